"""bench/auth_tokens.py still runs: its phases, briefly, against the test stack's auth database.

Not a measurement (the benchmark itself provisions a database of its own): this only keeps the script from
rotting as the token endpoint and the verifier change.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from auth.settings import AuthSettings

BENCH = Path(__file__).resolve().parents[3] / "bench" / "auth_tokens.py"


@pytest.fixture(scope="module")
def auth_tokens() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_auth_tokens", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


async def test_the_benchmark_issues_and_verifies_real_tokens(
    auth_tokens: ModuleType, auth_settings: AuthSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(seconds=0.2, concurrency=2, server="asgi")
    results = await auth_tokens.bench(args, auth_settings)

    assert results["issuance"] is not None, "the token endpoint did not issue a client_credentials token"
    single, concurrent = results["issuance"]
    assert single.n > 0
    assert concurrent.n > 0
    assert results["verify"].n > 0
    assert all(rate.per_second > 0 for rate in (*results["sign"], *results["decode"]))
    assert results["token"]["subject"] == auth_tokens.CLIENT_ID
    assert results["token"]["aud"] in auth_tokens.AUDIENCES

    auth_tokens.report(args, results)
    out = capsys.readouterr().out
    assert "issuance, 1 at a time" in out
    assert "local verification" in out
    assert "token endpoint not available" not in out


def test_the_arguments_have_their_documented_defaults(auth_tokens: ModuleType) -> None:
    args = auth_tokens.parse_args([])
    assert (args.seconds, args.concurrency, args.server) == (3.0, 8, "asgi")
