"""Bad input and abuse through a real gateway in front of the real auth, problems and routing apps: a schemathesis
run over the merged public OpenAPI, oversized bodies, malformed JSON, fields that try to set roles or owners,
huge limits, tokens for another audience; and the merged OpenAPI documents themselves."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from servicekit.testing.plugin import TestStack

from .conftest import GatewayFactory, Services

HIGH = {"ip_read_limit": 100_000, "ip_write_limit": 100_000, "ip_signin_limit": 100_000}


@pytest.fixture(scope="module")
def platform(start_gateway: GatewayFactory, services: Services) -> Iterator[str]:
    with start_gateway(
        auth_url=services.auth, problems_url=services.problems, routing_url=services.routing, **HIGH
    ) as gateway:
        yield gateway


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_the_merged_public_openapi_has_every_services_public_paths(platform: str) -> None:
    document = httpx.get(f"{platform}/api/v1/openapi.json", timeout=30).json()

    paths = set(document["paths"])
    assert "/api/v1/problems" in paths
    assert "/api/v1/problems/categories" in paths
    assert "/api/v1/territories" in paths
    assert "/api/v1/me" in paths
    assert all(path.startswith("/api/v1/") or path == "/api/v1" for path in paths)
    schemas = document["components"]["schemas"]
    assert any(name.startswith("problems.") for name in schemas)
    assert any(name.startswith("auth.") for name in schemas)
    for ref in _refs(document):
        kind, name = ref.removeprefix("#/components/").split("/", 1)
        assert name in document["components"][kind], ref
    operation_ids = [
        op["operationId"] for item in document["paths"].values() for op in item.values() if "operationId" in op
    ]
    assert len(operation_ids) == len(set(operation_ids))
    docs = httpx.get(f"{platform}/docs")
    assert docs.status_code == 200
    assert "/api/v1/openapi.json" in docs.text


def test_the_admin_openapi_is_for_operators_only(platform: str, gorod_stack: TestStack) -> None:
    anonymous = httpx.get(f"{platform}/admin/v1/openapi.json")
    citizen = httpx.get(f"{platform}/admin/v1/openapi.json", headers=gorod_stack.tokens.bearer("gateway"))
    operator = httpx.get(
        f"{platform}/admin/v1/openapi.json",
        headers=gorod_stack.tokens.bearer("gateway", roles=["operator"]),
        timeout=30,
    )

    assert anonymous.status_code == 401
    assert citizen.status_code == 403
    assert operator.status_code == 200
    paths = set(operator.json()["paths"])
    assert "/admin/v1/clients" in paths
    assert any(path.startswith("/admin/v1/routing/") for path in paths)
    assert all(path.startswith("/admin/v1/") for path in paths)


def test_schemathesis_finds_no_server_error_and_no_answer_off_its_schema(platform: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{platform}/api/v1/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--phases",
            "examples,fuzzing",
            "--max-examples",
            "8",
            "--seed",
            "311",
            "--request-timeout",
            "20",
            "--exclude-path-regex",
            "/export$",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    (tmp_path / "schemathesis.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, _failures(result.stdout) + result.stderr[-2000:]


def _failures(report: str) -> str:
    """The FAILURES and SUMMARY parts of a schemathesis report (without the long tracebacks)."""
    start = report.find("FAILURES")
    return report[start : start + 8000] if start >= 0 else report[-8000:]


def test_oversized_and_malformed_bodies_are_refused(platform: str, gorod_stack: TestStack) -> None:
    citizen = gorod_stack.tokens.bearer("problems", roles=["citizen"])
    huge = httpx.post(
        f"{platform}/api/v1/problems",
        content=b'{"title": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={**citizen, "Content-Type": "application/json"},
    )
    malformed = httpx.post(
        f"{platform}/api/v1/problems",
        content='{"title": "Яма", '.encode(),
        headers={**citizen, "Content-Type": "application/json"},
    )

    assert huge.status_code == 413
    assert huge.headers["content-type"] == "application/problem+json"
    assert malformed.status_code == 422
    assert malformed.headers["content-type"] == "application/problem+json"


def test_fields_that_try_to_set_roles_or_owners_are_refused(platform: str, gorod_stack: TestStack) -> None:
    citizen = gorod_stack.tokens.bearer("problems", roles=["citizen"])
    body = {
        "map": "city",
        "category": "roads.pothole",
        "point": {"lon": 38.77, "lat": 55.1},
        "title": "Яма у остановки",
        "author_id": str(uuid.uuid4()),
        "roles": ["operator"],
        "status": "solved",
    }
    response = httpx.post(f"{platform}/api/v1/problems", json=body, headers=citizen)

    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert {"body.author_id", "body.roles", "body.status"} <= fields


def test_a_huge_limit_is_capped_or_refused(platform: str) -> None:
    response = httpx.get(f"{platform}/api/v1/problems", params={"limit": 10**9})

    assert response.status_code in (200, 422)
    if response.status_code == 200:
        assert len(response.json()["items"]) <= 100
    overflow = httpx.get(f"{platform}/api/v1/problems/categories", params={"limit": "9" * 40})
    assert overflow.status_code in (200, 422)


def test_a_token_for_another_audience_never_reaches_the_service(platform: str, gorod_stack: TestStack) -> None:
    for_routing = gorod_stack.tokens.bearer("routing", roles=["citizen", "operator"])
    report = httpx.post(f"{platform}/api/v1/problems", json={}, headers=for_routing)
    admin = httpx.get(f"{platform}/admin/v1/clients", headers=for_routing)

    assert report.status_code == 401
    assert admin.status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/metrics",
        "/api/v1/problems/metrics",
        "/api/v1/problems/%2e%2e/%2e%2e/%2e%2e/metrics",
        "/api/v1/problems/..%2f..%2f..%2fmetrics",
        "/admin/v1/%2e%2e/%2e%2e/metrics",
    ],
)
def test_a_services_own_metrics_are_not_reachable_through_the_gateway(
    platform: str, services: Services, path: str
) -> None:
    """A service's /metrics (its outbox backlog among them) is for the monitoring inside the platform only."""
    direct = httpx.get(f"{services.problems}/metrics")
    assert "outbox_pending_events" in direct.text  # the service has it...
    through = httpx.get(f"{platform}{path}")
    assert "outbox_pending_events" not in through.text  # ...the gateway never hands it out
