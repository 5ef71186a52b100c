"""The fakes the unit tests run on stay true to the client they stand in for: every public method
of FakeClient is a method of RegistryClient with the same parameters, so a renamed or reshaped
client method fails here, not silently in a fake nobody calls any more."""

from __future__ import annotations

import inspect

from support.fakes import FakeClient, FakeRegistry

from manifest_spec.registry.client import ClientOptions, RegistryClient


def test_every_faked_method_is_the_clients_with_the_same_parameters() -> None:
    faked = [name for name, _ in inspect.getmembers(FakeClient, inspect.isfunction) if not name.startswith("_")]
    assert {"get_manifest", "put_manifest", "mount_blob", "request", "again_if_body_breaks"} <= set(faked)
    for name in faked:
        real = getattr(RegistryClient, name, None)
        assert real is not None, f"RegistryClient has no {name}: the fake answers a call the code no longer makes"
        ours, theirs = inspect.signature(getattr(FakeClient, name)), inspect.signature(real)
        assert list(ours.parameters) == list(theirs.parameters), f"{name}{ours} is not {name}{theirs}"


def test_the_attributes_the_code_reads_are_the_clients() -> None:
    real = RegistryClient("registry.test", ClientOptions(plain_http=True))  # builds a session; sends nothing
    fake = FakeClient(FakeRegistry("registry.test"))
    for attribute in ("host", "base", "attempts", "body_retries"):
        assert type(getattr(fake, attribute)) is type(getattr(real, attribute)), attribute
    assert (fake.host, fake.base.split("://")[1]) == (real.host, real.base.split("://")[1])
    real.close()
