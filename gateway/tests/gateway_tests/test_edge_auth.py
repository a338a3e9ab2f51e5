"""Bearer tokens at the edge, the operator-only admin API and its audit log."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from servicekit.testing.plugin import TestStack

from .conftest import GatewayFactory


def test_a_valid_token_for_the_routes_service_passes_and_reaches_it(gateway: str, gorod_stack: TestStack) -> None:
    headers = gorod_stack.tokens.bearer("problems", roles=["citizen"])
    response = httpx.get(f"{gateway}/api/v1/problems/mine", headers=headers)

    assert response.status_code == 200
    seen = dict(response.json()["headers"])
    assert seen["authorization"] == headers["Authorization"]  # services check tokens themselves too


def test_a_token_for_another_audience_is_refused_with_401(gateway: str, gorod_stack: TestStack) -> None:
    headers = gorod_stack.tokens.bearer("routing", roles=["citizen"])
    response = httpx.post(f"{gateway}/api/v1/problems", headers=headers, json={"title": "Яма"})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["detail"] == "Не удалось подтвердить вход. Войдите заново."


def test_garbage_expired_and_foreign_tokens_are_refused(gateway: str, gorod_stack: TestStack) -> None:
    expired = gorod_stack.tokens.mint("problems", ttl=-3600)
    other_issuer = gorod_stack.tokens.mint("problems", iss="https://evil.example.org")
    for token, detail in [
        ("not-a-jwt", "Не удалось подтвердить вход. Войдите заново."),
        (expired, "Сеанс входа истёк. Войдите заново."),
        (other_issuer, "Не удалось подтвердить вход. Войдите заново."),
    ]:
        response = httpx.get(f"{gateway}/api/v1/problems", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.json()["detail"] == detail


def test_anonymous_calls_pass_to_the_public_api(gateway: str) -> None:
    assert httpx.get(f"{gateway}/api/v1/problems").status_code == 200


def test_auth_endpoints_judge_their_own_credentials(gateway: str) -> None:
    # The issuer's endpoints are not subject to the edge's audience check.
    response = httpx.get(f"{gateway}/oauth2/userinfo", headers={"Authorization": "Bearer whatever"})

    assert response.status_code == 200
    assert response.json()["path"] == "/oauth2/userinfo"


def test_the_admin_api_needs_an_operator_and_every_call_is_audited(
    start_gateway: GatewayFactory, gorod_stack: TestStack, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    operator_id = uuid.uuid4()
    citizen_id = uuid.uuid4()
    with start_gateway(audit_log_path=str(audit)) as gateway:
        anonymous = httpx.get(f"{gateway}/admin/v1/problems/moderation")
        citizen = httpx.get(
            f"{gateway}/admin/v1/problems/moderation",
            headers=gorod_stack.tokens.bearer("problems", subject=citizen_id, roles=["citizen"]),
        )
        wrong_audience = httpx.get(
            f"{gateway}/admin/v1/clients",
            headers=gorod_stack.tokens.bearer("problems", subject=operator_id, roles=["operator"]),
        )
        operator = httpx.delete(
            f"{gateway}/admin/v1/clients/widget-1?reason=secret",
            headers=gorod_stack.tokens.bearer("auth", subject=operator_id, roles=["operator"]),
        )

    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert citizen.status_code == 403
    assert citizen.json()["detail"] == "Это действие доступно только операторам."
    assert wrong_audience.status_code == 401
    assert operator.status_code == 200
    assert operator.json()["path"] == "/admin/v1/clients/widget-1"

    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(e["method"], e["path"], e["status"], e["result"]) for e in lines] == [
        ("GET", "/admin/v1/problems/moderation", 401, "refused"),
        ("GET", "/admin/v1/problems/moderation", 403, "refused"),
        ("GET", "/admin/v1/clients", 401, "refused"),
        ("DELETE", "/admin/v1/clients/widget-1", 200, "allowed"),
    ]
    assert [e["subject"] for e in lines] == [None, str(citizen_id), None, str(operator_id)]
    assert lines[3]["service"] == "auth"
    assert lines[3]["roles"] == ["operator"]
    assert lines[3]["request_id"] == operator.headers["x-request-id"]
    assert "secret" not in audit.read_text()  # no query strings (they may carry personal data)
