"""A throwaway PKI for TLS tests: a self-signed CA, a server certificate, a client certificate.

Everything is made with ``cryptography`` (no openssl binary): EC P-256 keys, certificates valid
for a day, the server one with SAN ``IP:127.0.0.1`` and ``DNS:localhost``. Files are written in
the layouts the registry and docker expect::

    pki = make_pki(tmp_path)
    Registry(tls_registry_config(pki))                    # http.tls.{certificate,key}
    Registry(tls_registry_config(pki, client_ca=True))    # + http.tls.clientcas: client cert required
    certs_dir(pki, tmp_path / "certs.d", host)            # <dir>/<host:port>/ca.crt [+ client.cert/.key]

:class:`MTLSRegistry` is a :class:`support.registry.Registry` whose readiness probe presents the
client certificate (a registry that requires one never answers an anonymous TLS client).
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from support.registry import Registry


@dataclass(frozen=True)
class PKI:
    ca_cert: Path  # PEM; trust this to trust the server
    server_cert: Path
    server_key: Path
    client_cert: Path  # signed by the same CA, for mutual TLS
    client_key: Path
    other_ca_cert: Path  # a CA that signed nothing here: trusting it must not help


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "manifest-spec tests"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _make_ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _issue(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, common_name: str, *, server: bool
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256()), key


def make_pki(directory: Path) -> PKI:
    """CA, server and client pairs as PEM files in `directory` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _make_ca("manifest-spec test CA")
    other_ca, _ = _make_ca("an unrelated CA")
    server, server_key = _issue(ca, ca_key, "127.0.0.1", server=True)
    client, client_key = _issue(ca, ca_key, "manifest-spec test client", server=False)
    pki = PKI(
        ca_cert=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
        client_cert=directory / "client.pem",
        client_key=directory / "client-key.pem",
        other_ca_cert=directory / "other-ca.pem",
    )
    _write_cert(ca, pki.ca_cert)
    _write_cert(other_ca, pki.other_ca_cert)
    _write_cert(server, pki.server_cert)
    _write_key(server_key, pki.server_key)
    _write_cert(client, pki.client_cert)
    _write_key(client_key, pki.client_key)
    return pki


def tls_registry_config(pki: PKI, *, client_ca: bool = False) -> dict[str, Any]:
    """Registry extra config: serve https with the server pair; require a client cert when asked."""
    tls: dict[str, Any] = {"certificate": str(pki.server_cert), "key": str(pki.server_key)}
    if client_ca:
        tls["clientcas"] = [str(pki.ca_cert)]
    return {"http": {"tls": tls}}


def certs_dir(pki: PKI, root: Path, host: str, *, ca: bool = True, client: bool = False, ca_file: Optional[Path] = None) -> Path:
    """docker's certs.d layout for one host: `<root>/<host>/ca.crt`, `client.cert` + `client.key`."""
    directory = root / host
    directory.mkdir(parents=True, exist_ok=True)
    if ca:
        shutil.copyfile(ca_file or pki.ca_cert, directory / "ca.crt")
    if client:
        shutil.copyfile(pki.client_cert, directory / "client.cert")
        shutil.copyfile(pki.client_key, directory / "client.key")
    return root


def client_context(pki: PKI, *, with_client_cert: bool = True) -> ssl.SSLContext:
    """An ssl context trusting the test CA (and presenting the client pair) for direct probes."""
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    if with_client_cert:
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    return context


class MTLSRegistry(Registry):
    """A registry requiring client certificates; its readiness probe presents one."""

    def __init__(self, pki: PKI, extra_config: Optional[dict[str, Any]] = None) -> None:
        from support.registry import deep_merge

        super().__init__(deep_merge(tls_registry_config(pki, client_ca=True), extra_config or {}))
        self.pki = pki

    def _probe_context(self) -> ssl.SSLContext:
        return client_context(self.pki)  # this registry answers nobody without a client certificate
