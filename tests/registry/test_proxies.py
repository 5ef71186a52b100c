"""Proxies from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY), as requests reads them,
through a real forward proxy (support/forward_proxy.py) in front of the real registry."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests
import requests.utils
from click.testing import CliRunner, Result
from support.clirun import assert_clean_failure, assert_ok, digest_line, push_spec, tag_digest
from support.forward_proxy import ForwardProxy
from support.images import PushedImage, push_image
from support.registry import Registry
from support.specs import repo_spec
from support.tls import PKI, certs_dir

from manifest_spec.cli.main import main
from manifest_spec.registry.proxies import environment_proxy

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD")
ENVIRONMENTS = [
    {},
    {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:8", "NO_PROXY": "bypassed.example"},
    {"https_proxy": "127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:7"},  # lower case wins; a scheme is added
    {"ALL_PROXY": "http://u:p%40ss@127.0.0.1:6", "no_proxy": ".internal, 127.0.0.0/16,registry.example:5000"},
    {"HTTP_PROXY": "http://127.0.0.1:8", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "*"},
    {"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.0/33,127.1.2.3"},
    {"https_proxy": "http://127.0.0.1:9", "no_proxy": "example"},  # a bare suffix: requests' endswith
]
URLS = [
    "https://registry.example/v2/", "http://registry.example:5000/v2/", "https://registry.example:5000/v2/",
    "https://bypassed.example/token", "https://sub.bypassed.example/v2/", "https://a.internal/v2/",
    "https://127.0.2.3/v2/", "https://127.1.2.3/v2/", "http://127.0.0.1:5000/v2/", "https://[::1]:5000/v2/",
]


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda e: ",".join(e) or "none")
def test_the_proxy_for_a_url_is_the_one_requests_would_use(no_proxies: None, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for url in URLS:
        expected = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
        if expected is not None:
            expected = requests.utils.prepend_scheme_if_needed(expected, "http")
        assert environment_proxy(url) == expected, url


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as p:
        yield p


def _spec(host: str, repo: str, tag: str) -> dict[str, object]:
    return repo_spec(host, repo, tag, [("amd64", "amd64")])


def test_a_push_goes_through_http_proxy(no_proxies: None, monkeypatch: pytest.MonkeyPatch, registry: Registry, proxy: ForwardProxy, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64")
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    result = push_spec(tmp_path, _spec(registry.host, repo_name, "proxied"))
    assert_ok(result)
    assert tag_digest(registry.url, repo_name, "proxied") == digest_line(result)[0]
    targets = [target for _, target in proxy.seen]
    assert f"http://{registry.host}/v2/{repo_name}/manifests/amd64" in targets  # absolute-URI form: through the proxy
    assert ("PUT", f"http://{registry.host}/v2/{repo_name}/manifests/proxied") in proxy.seen


def test_no_proxy_sends_the_registry_direct(no_proxies: None, monkeypatch: pytest.MonkeyPatch, registry: Registry, proxy: ForwardProxy, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64")
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert_ok(push_spec(tmp_path, _spec(registry.host, repo_name, "direct")))
    assert proxy.seen == []


def tls_cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def tls_image(tls_registry: Registry, pki: PKI) -> PushedImage:
    session = requests.Session()
    session.trust_env, session.verify = False, str(pki.ca_cert)
    return push_image(tls_registry.url, "proxied/app", "amd64", session=session)


def test_https_goes_through_a_connect_tunnel_with_the_proxy_credentials(
    no_proxies: None, monkeypatch: pytest.MonkeyPatch, tls_registry: Registry, tls_image: PushedImage, pki: PKI, tmp_path: Path
) -> None:
    certs = certs_dir(pki, tmp_path / "certs.d", tls_registry.host)
    reference = f"{tls_registry.host}/proxied/app@{tls_image.digest}"
    with ForwardProxy("proxy-user", "proxy p@ss") as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://proxy-user:proxy%20p%40ss@{proxy.host}")
        result = tls_cli("--certs-dir", str(certs), "inspect", "--raw", reference)
        assert_ok(result)
        assert result.stdout_bytes == tls_image.manifest_bytes  # TLS to the registry itself, inside the tunnel
        assert proxy.seen and set(proxy.seen) == {("CONNECT", tls_registry.host)}
        monkeypatch.setenv("HTTPS_PROXY", f"http://proxy-user:wrong@{proxy.host}")
        assert_clean_failure(tls_cli("--certs-dir", str(certs), "inspect", "--raw", reference), tls_registry.host)
