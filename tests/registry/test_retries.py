"""Retries, through the fault proxy (support/faults.py) in front of the real registry.

Transient answers (503, 429 with Retry-After, a reset connection, a body cut short) are retried
and the push succeeds; answers that will not change (400, 403, 404, 413) and non-idempotent
requests (POST) are sent once. `--debug` shows each retry on stderr, without query strings or
secrets. Waits are kept short: the first retry of urllib3's backoff is immediate.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import pytest
import requests
from click.testing import Result
from support.clirun import (
    assert_clean_failure,
    assert_ok,
    digest_line,
    tag_digest,
    write_spec,
)
from support.clirun import run_cli as cli
from support.faults import FaultProxy, Reply, error, reset_connections, truncate
from support.images import PushedImage, get_blob, get_manifest, push_image
from support.registry import Registry
from support.specs import spec
from urllib3.response import HTTPResponse

from manifest_spec.registry.transport import RETRY_AFTER_CAP, make_retry

REPO_ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "frank", "frank:Retry-s3cret"


def stamped(when: list[float], fault: Any = None) -> Any:
    """A fault that notes the time it was applied (and applies `fault`, if any)."""

    def apply(reply: Reply) -> Reply:
        when.append(time.monotonic())
        return fault(reply) if fault else reply

    return apply


@pytest.fixture
def images(registry: Registry, repo_name: str) -> tuple[PushedImage, PushedImage]:
    return push_image(registry.url, repo_name, "amd64"), push_image(registry.url, repo_name, "arm64", architecture="arm64")


def two_member_spec(host: str, repo: str, target: Optional[str] = None, tag: str = "v1") -> dict[str, Any]:
    return spec(f"{host}/{target or repo}:{tag}", (f"{host}/{repo}:amd64", "amd64"), (f"{host}/{repo}:arm64", "arm64"))


def push(tmp_path: Path, the_spec: dict[str, Any], *flags: str, input: Optional[str] = None) -> Result:
    return cli(*flags, "push", "from-spec", str(write_spec(tmp_path, the_spec)), input=input)


UNAVAILABLE = error(503, "UNAVAILABLE", "service unavailable")


# -- transient failures are retried and the push succeeds --------------------------------------


def test_503_on_a_manifest_get_then_success(registry: Registry, fault_proxy: FaultProxy, images: Any, repo_name: str, tmp_path: Path) -> None:
    fault_proxy.inject("GET", r"/manifests/amd64$", UNAVAILABLE, times=1, forward=False)
    result = push(tmp_path, two_member_spec(fault_proxy.host, repo_name))
    assert_ok(result)
    assert fault_proxy.requests("GET").count(f"/v2/{repo_name}/manifests/amd64") == 2
    assert tag_digest(registry.url, repo_name, "v1") == digest_line(result)[0]


def test_503_on_the_index_put_then_success(registry: Registry, fault_proxy: FaultProxy, images: Any, repo_name: str, tmp_path: Path) -> None:
    fault_proxy.inject("PUT", r"/manifests/v1$", UNAVAILABLE, times=1, forward=False)
    result = push(tmp_path, two_member_spec(fault_proxy.host, repo_name))
    assert_ok(result)
    assert fault_proxy.requests("PUT") == [f"/v2/{repo_name}/manifests/v1"] * 2  # the same bytes, PUT again
    assert tag_digest(registry.url, repo_name, "v1") == digest_line(result)[0]


def test_429_retry_after_is_honoured(registry: Registry, fault_proxy: FaultProxy, images: Any, repo_name: str, tmp_path: Path) -> None:
    when: list[float] = []
    too_many = error(429, "TOOMANYREQUESTS", "slow down")
    fault_proxy.inject("GET", r"/manifests/amd64$", stamped(when, lambda r: too_many(r).with_header("Retry-After", "1")), times=1, forward=False)
    fault_proxy.inject("GET", r"/manifests/amd64$", stamped(when))
    started = time.monotonic()
    result = push(tmp_path, two_member_spec(fault_proxy.host, repo_name))
    assert_ok(result)
    assert len(when) == 2
    assert when[1] - when[0] >= 0.95, f"retried after {when[1] - when[0]:.2f} s, not after Retry-After: 1"
    assert time.monotonic() - started < 5


def test_retry_after_is_capped() -> None:
    retry = make_retry(3)
    assert retry.get_retry_after(HTTPResponse(headers={"Retry-After": "3600"}, status=429)) == RETRY_AFTER_CAP
    assert retry.get_retry_after(HTTPResponse(headers={"Retry-After": "2"}, status=429)) == 2


def test_a_reset_connection_on_a_get_is_retried(registry: Registry, fault_proxy: FaultProxy, images: Any, repo_name: str, tmp_path: Path) -> None:
    resets = reset_connections(fault_proxy, "GET", r"/manifests/arm64$", times=1)
    result = push(tmp_path, two_member_spec(fault_proxy.host, repo_name))
    assert_ok(result)
    assert len(resets) == 1
    assert fault_proxy.requests("GET").count(f"/v2/{repo_name}/manifests/arm64") == 1  # the retry, answered
    assert tag_digest(registry.url, repo_name, "v1") == digest_line(result)[0]


@pytest.mark.parametrize("path", [r"/manifests/arm64$", r"/blobs/sha256:"], ids=["manifest", "config-blob"])
def test_a_body_cut_short_on_a_get_is_retried(registry: Registry, fault_proxy: FaultProxy, images: Any, repo_name: str, tmp_path: Path, path: str) -> None:
    fault_proxy.inject("GET", path, truncate(40), times=1)
    result = push(tmp_path, two_member_spec(fault_proxy.host, repo_name))
    assert_ok(result)
    gets = [p for p in fault_proxy.requests("GET") if re.search(path, p)]
    assert len(gets) >= 2 and len(gets) - len(set(gets)) == 1, gets  # exactly one of them read twice
    assert tag_digest(registry.url, repo_name, "v1") == digest_line(result)[0]


def test_a_body_cut_short_every_time_is_one_clear_error(registry: Registry, fault_proxy: FaultProxy, images: Any, repo_name: str, tmp_path: Path) -> None:
    fault_proxy.inject("GET", r"/manifests/arm64$", truncate(40))
    result = push(tmp_path, two_member_spec(fault_proxy.host, repo_name))
    assert_clean_failure(result, "manifests[1]", "broke while reading")
    assert 2 <= fault_proxy.requests("GET").count(f"/v2/{repo_name}/manifests/arm64") <= 5  # bounded
    assert fault_proxy.requests("PUT") == []


# -- answers that will not change are not retried ----------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "fault", "message"),
    [
        ("GET", r"/manifests/arm64$", error(404, "MANIFEST_UNKNOWN", "manifest unknown"), "MANIFEST_UNKNOWN"),
        ("GET", r"/manifests/arm64$", error(400, "NAME_INVALID", "invalid repository name"), "NAME_INVALID"),
        ("PUT", r"/manifests/v1$", error(400, "MANIFEST_INVALID", "manifest invalid"), "MANIFEST_INVALID"),
        ("PUT", r"/manifests/v1$", error(403, "DENIED", "requested access to the resource is denied"), "DENIED"),
        ("PUT", r"/manifests/v1$", lambda r: error(413, "SIZE_INVALID", "too large")(r).with_header("Retry-After", "1"), "413"),
        ("POST", r"/blobs/uploads/", error(400, "BLOB_UPLOAD_INVALID", "no"), "BLOB_UPLOAD_INVALID"),
    ],
    ids=["get-404", "get-400", "put-400", "put-403", "put-413-with-retry-after", "post-400"],
)
def test_permanent_answers_and_posts_are_sent_once(
    registry: Registry, fault_proxy: FaultProxy, images: Any, repo_name: str, tmp_path: Path, method: str, path: str, fault: Any, message: str
) -> None:
    fault_proxy.inject(method, path, fault, forward=False)
    target = f"{repo_name}-copy" if method == "POST" else repo_name  # POST: a mount into another repo
    started = time.monotonic()
    result = push(tmp_path, two_member_spec(fault_proxy.host, repo_name, target))
    assert_clean_failure(result, message)
    sent = [p for p in fault_proxy.requests(method) if re.search(path, p)]
    if method == "POST":  # every blob's mount is in flight at once: each one sent once, never again
        blobs = {b for image in images for b in (image.config_digest, *image.layer_digests)}
        assert 1 <= len(sent) <= len(blobs) and len(fault_proxy.requests("POST")) == len(sent), fault_proxy.seen
    else:
        assert len(sent) == 1, fault_proxy.seen
    assert time.monotonic() - started < 3
    assert tag_digest(registry.url, target, "v1") is None


# -- a blob streamed from another registry, its body cut short once ----------------------------


def test_a_source_blob_cut_short_during_a_cross_registry_copy_is_read_again(
    registry: Registry, other_registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path
) -> None:
    image = push_image(registry.url, repo_name, "amd64", layer_size=200_000, gzip_layer=False)
    layer = image.layer_digests[0]
    fault_proxy.inject("GET", rf"/blobs/{layer}$", truncate(50_000), times=1)
    the_spec = spec(f"{other_registry.host}/{repo_name}:v1", (f"{fault_proxy.host}/{repo_name}:amd64", "amd64"))
    result = push(tmp_path, the_spec)
    assert_ok(result)
    assert fault_proxy.requests("GET").count(f"/v2/{repo_name}/blobs/{layer}") == 2
    assert get_blob(other_registry.url, repo_name, layer) == get_blob(registry.url, repo_name, layer)
    assert get_manifest(other_registry.url, repo_name, "v1")[2] == digest_line(result)[0]


# -- --debug: each retry on stderr, no query string, no secret ---------------------------------


@pytest.fixture(scope="module")
def basic_account() -> tuple[str, str]:
    """The one account of `basic_registry` (conftest)."""
    return USER, PASSWORD


def test_debug_logs_each_retry_without_query_strings_or_secrets(basic_registry: Registry, repo_name: str, tmp_path: Path) -> None:
    session = requests.Session()
    session.auth = (USER, PASSWORD)
    source, target = f"{repo_name}/src", f"{repo_name}/app"
    push_image(basic_registry.url, source, "amd64", session=session)
    with FaultProxy(basic_registry.host) as proxy:

        def refuse_mount(reply: Reply) -> Reply:  # a registry without shared storage: no mount (and no session)
            return Reply(202, (), b"")

        proxy.inject("GET", r"/manifests/amd64$", UNAVAILABLE, times=1, forward=False)
        proxy.inject("POST", r"mount=", refuse_mount, forward=False)
        proxy.inject("PUT", r"/blobs/uploads/.*digest=", UNAVAILABLE, times=1, forward=False)  # upload PUT: its URL has a query
        resets = reset_connections(proxy, "HEAD", r"/manifests/sha256:", times=1)
        put_resets = reset_connections(proxy, "PUT", r"/blobs/uploads/.*digest=", times=1)  # then the 503, then through
        spec_path = write_spec(tmp_path, spec(f"{proxy.host}/{target}:v1", (f"{proxy.host}/{source}:amd64", "amd64")))
        env = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_SPEC_")}
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "manifest_spec", "--debug", "--plain-http", "--username", USER, "--password-stdin",
             "push", "from-spec", str(spec_path)],
            input=PASSWORD, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=env, check=False,
        )
        assert time.monotonic() - started < 15
    assert run.returncode == 0, run.stderr
    assert len(resets) == 1 and len(put_resets) == 1
    retries = [line for line in run.stderr.splitlines() if "retrying" in line.lower()]
    host = re.escape(proxy.host)
    assert any(re.search(rf"retrying GET {host}/v2/{source}/manifests/amd64 after HTTP 503", line) for line in retries), retries
    assert any(re.search(rf"retrying PUT {host}/v2/{target}/blobs/uploads/\S+ after HTTP 503", line) for line in retries), retries
    assert any(re.search(rf"retrying HEAD {host}/v2/{target}/manifests/sha256:[0-9a-f]{{64}} after", line) for line in retries), retries
    assert all("?" not in line for line in retries), retries
    # Each request: method, host, path (no query), status, time taken, try number.
    assert re.search(rf"DEBUG manifest_spec.registry.client: GET {host}/v2/{source}/manifests/amd64 -> 200 in \d+ ms \(try 2\)", run.stderr), run.stderr
    everything = run.stdout + run.stderr
    assert "_state=" not in everything and "digest=sha256" not in everything  # no upload URL query anywhere
    assert PASSWORD not in everything
    assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in everything
    assert "Authorization" not in everything


def test_retries_run_out_in_one_line_without_the_upload_query(
    registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from manifest_spec.registry import transport

    original = transport.make_retry
    monkeypatch.setattr(transport, "make_retry", lambda attempts: original(attempts).new(backoff_factor=0, backoff_jitter=0))
    source, target = f"{repo_name}/src", f"{repo_name}/app"
    push_image(registry.url, source, "amd64")
    fault_proxy.inject("POST", r"mount=", lambda reply: Reply(202, (), b""), forward=False)  # refused, no session: a plain upload
    resets = reset_connections(fault_proxy, "PUT", r"/blobs/uploads/.*digest=", times=100)
    the_spec = spec(f"{fault_proxy.host}/{target}:v1", (f"{fault_proxy.host}/{source}:amd64", "amd64"))
    result = push(tmp_path, the_spec)
    line = assert_clean_failure(result, "copy blob", fault_proxy.host)
    assert len(resets) == 5 * 2  # per blob (config and layer, in flight together): the first try and 4 retries, then stop
    assert "?" not in line and "_state" not in line and "digest=" not in line, line
    assert tag_digest(registry.url, target, "v1") is None
