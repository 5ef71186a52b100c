"""TLS against the real registry serving https with a throwaway CA (support/tls.py).

Trust comes from docker's certs.d layout (`--certs-dir DIR` with DIR/<host:port>/ca.crt), from
REQUESTS_CA_BUNDLE, or is switched off with --insecure; without any of them the same registry
is refused with one line. A registry with http.tls.clientcas wants client.cert/client.key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest
import requests
from click.testing import CliRunner, Result
from support.clirun import assert_clean_failure, assert_ok, digest_line, write_spec
from support.images import PushedImage, get_manifest, push_image
from support.registry import Registry, deep_merge
from support.specs import spec
from support.tls import PKI, certs_dir, tls_registry_config
from support.tokenserver import TokenServer

from manifest_spec.cli.main import main


def cli(*args: str, input: Optional[str] = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


@pytest.fixture(autouse=True)
def no_ambient_trust_or_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "MANIFEST_SPEC_USERNAME",
                 "MANIFEST_SPEC_PASSWORD", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)


def trusted(pki: PKI, *, client: bool = False) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would win over session.verify
    session.verify = str(pki.ca_cert)
    if client:
        session.cert = (str(pki.client_cert), str(pki.client_key))
    return session


@pytest.fixture(scope="module")
def image(tls_registry: Registry, pki: PKI) -> PushedImage:
    return push_image(tls_registry.url, "tls/app", "amd64", session=trusted(pki))


@pytest.fixture(scope="module")
def mtls_image(mtls_registry: Registry, pki: PKI) -> PushedImage:
    return push_image(mtls_registry.url, "mtls/app", "amd64", session=trusted(pki, client=True))


def push(tmp_path: Path, host: str, target: str, *flags: str, source: str = "tls/app:amd64") -> Result:
    return cli(*flags, "push", "from-spec", str(write_spec(tmp_path, spec(f"{host}/{target}", (f"{host}/{source}", "amd64")))))


def test_push_trusting_the_ca_from_a_certs_dir(tls_registry: Registry, image: PushedImage, pki: PKI, tmp_path: Path) -> None:
    certs = certs_dir(pki, tmp_path / "certs.d", tls_registry.host)
    result = push(tmp_path, tls_registry.host, "tls/list:certs-dir", "--certs-dir", str(certs))
    assert_ok(result)
    assert get_manifest(tls_registry.url, "tls/list", "certs-dir", session=trusted(pki))[2] == digest_line(result)[0]


@pytest.mark.parametrize("trust", ["nothing", "another-ca", "another-host"])
def test_without_the_ca_the_registry_is_refused_in_one_line(
    tls_registry: Registry, image: PushedImage, pki: PKI, tmp_path: Path, trust: str
) -> None:
    flags: tuple[str, ...] = ()
    if trust == "another-ca":
        flags = ("--certs-dir", str(certs_dir(pki, tmp_path / "certs.d", tls_registry.host, ca_file=pki.other_ca_cert)))
    elif trust == "another-host":  # the right CA, filed under another port: not used for this one
        flags = ("--certs-dir", str(certs_dir(pki, tmp_path / "certs.d", "127.0.0.1:1")))
    result = push(tmp_path, tls_registry.host, "tls/list:refused", *flags)
    line = assert_clean_failure(result, "TLS", tls_registry.host)
    assert "certificate verify failed" in line and "ca.crt" in line and "--insecure" in line
    assert requests.head(f"{tls_registry.url}/v2/tls/list/manifests/refused", verify=str(pki.ca_cert), timeout=10).status_code == 404


def test_insecure_skips_verification_with_a_warning(tls_registry: Registry, image: PushedImage, pki: PKI, tmp_path: Path) -> None:
    result = push(tmp_path, tls_registry.host, "tls/list:insecure", "--insecure")
    assert_ok(result)
    assert "warning: --insecure" in result.stderr
    assert get_manifest(tls_registry.url, "tls/list", "insecure", session=trusted(pki))[2] == digest_line(result)[0]


def test_requests_ca_bundle_is_honoured(tls_registry: Registry, image: PushedImage, pki: PKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_cert))
    result = cli("inspect", "--raw", f"{tls_registry.host}/tls/app@{image.digest}")
    assert_ok(result)
    assert result.stdout_bytes == image.manifest_bytes


def test_a_certs_dir_ca_adds_to_requests_ca_bundle(tls_registry: Registry, image: PushedImage, pki: PKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docker adds the certs.d CAs to the system trust; an unrelated ca.crt must not drop the bundle."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_cert))
    certs = certs_dir(pki, tmp_path / "certs.d", tls_registry.host, ca_file=pki.other_ca_cert)
    assert_ok(cli("--certs-dir", str(certs), "inspect", f"{tls_registry.host}/tls/app@{image.digest}"))


def test_mutual_tls_needs_the_client_certificate(mtls_registry: Registry, mtls_image: PushedImage, pki: PKI, tmp_path: Path) -> None:
    with pytest.raises(requests.exceptions.RequestException):  # the registry really demands one
        requests.get(f"{mtls_registry.url}/v2/", verify=str(pki.ca_cert), timeout=10)

    without = certs_dir(pki, tmp_path / "ca-only", mtls_registry.host)
    result = push(tmp_path, mtls_registry.host, "mtls/list:v1", "--certs-dir", str(without), source="mtls/app:amd64")
    assert_clean_failure(result, "TLS", mtls_registry.host, "client certificate", "client.cert")

    with_client = certs_dir(pki, tmp_path / "with-client", mtls_registry.host, client=True)
    result = push(tmp_path, mtls_registry.host, "mtls/list:v1", "--certs-dir", str(with_client), source="mtls/app:amd64")
    assert_ok(result)
    assert get_manifest(mtls_registry.url, "mtls/list", "v1", session=trusted(pki, client=True))[2] == digest_line(result)[0]


def test_a_plain_http_token_realm_for_an_https_registry_is_refused(pki: PKI, tmp_path: Path) -> None:
    tokens = TokenServer(tmp_path / "tokens", users={"erin": "erin-pw"}, algorithm="ES256")
    with tokens, Registry(deep_merge(tls_registry_config(pki), tokens.registry_config())) as registry:
        certs = certs_dir(pki, tmp_path / "certs.d", registry.host)
        result = cli("--certs-dir", str(certs), "--username", "erin", "--password-stdin",
                     "inspect", f"{registry.host}/tls/app:amd64", input="erin-pw")
        assert_clean_failure(result, "plain http", tokens.realm)
        assert tokens.count() == 0  # the password never travelled
