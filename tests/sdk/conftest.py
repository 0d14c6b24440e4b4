"""pytest fixtures: a real eplinkd per test (or per module), SDK clients for each account."""
from __future__ import annotations

import os

import pytest

# The SDK honours HTTP(S)_PROXY; this suite talks to 127.0.0.1 only.
for _v in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_v, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

from eplink_sdk import Daemon  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _run_daemon(request, tmp_path_factory, name):
    d = Daemon(tmp_path_factory.mktemp(name))
    d.start()
    try:
        yield d
    finally:
        d.stop()
        failed = any(getattr(getattr(request.node, f"rep_{w}", None), "failed", False)
                     for w in ("setup", "call"))
        if failed:
            print(f"\n--- eplinkd log ({d.log_path}) ---\n{d.log_tail()}")


@pytest.fixture
def daemon(request, tmp_path_factory):
    """A fresh eplinkd with an empty store, killed at the end of the test."""
    yield from _run_daemon(request, tmp_path_factory, "eplinkd")


@pytest.fixture(scope="module")
def module_daemon(request, tmp_path_factory):
    """One eplinkd shared by the ordered steps of a module (the seed workflow)."""
    yield from _run_daemon(request, tmp_path_factory, "eplinkd-mod")


@pytest.fixture
def provider(daemon):
    return daemon.client("provider")


@pytest.fixture
def consumer1(daemon):
    return daemon.client("consumer1")


@pytest.fixture
def consumer2(daemon):
    return daemon.client("consumer2")
