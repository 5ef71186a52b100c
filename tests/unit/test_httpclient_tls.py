"""The TLS trust of a registry session is read once, however many requests start at the same moment."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import urllib3

from manifest_spec.registry import httpclient


def test_concurrent_first_requests_read_the_trust_files_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[tuple[Any, ...]] = []

    def slow_context(verify: Any, cert: Any) -> object:
        built.append((verify, cert))
        time.sleep(0.05)  # a CA bundle takes tens of ms to parse: long enough for every thread to arrive
        return object()

    monkeypatch.setattr(httpclient, "_context", slow_context)
    session = httpclient.Session(urllib3.Retry(0), 4, {})
    start = threading.Barrier(8)
    got: list[object] = []

    def first_request() -> None:
        start.wait()
        got.append(session.tls("https", "/trust/ca.pem", None)["ssl_context"])

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert built == [("/trust/ca.pem", None)]
    assert len(got) == 8 and all(context is got[0] for context in got)


def test_plain_http_builds_no_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpclient, "_context", lambda verify, cert: pytest.fail("no TLS for http"))
    assert httpclient.Session(urllib3.Retry(0), 4, {}).tls("http", True, None) == {}
