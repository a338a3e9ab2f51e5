"""Federation's rules without a browser: provider settings, the claims mapping, PKCE, where ``next`` may
lead, the documented examples, and the configuration command."""

from __future__ import annotations

import io
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from auth.federation.claims import ExternalIdentity, claim_at, map_claims
from auth.federation.config import ClaimsMapping, ProviderSettings, redirect_uri, secret_variable
from auth.federation.errors import ProviderError
from auth.federation.flow import code_challenge, new_flow, safe_next, same_state
from auth.settings import AuthSettings

DOC = Path(__file__).resolve().parents[3] / "docs" / "dobro-ru.md"

OIDC = {"discovery_url": "https://sso.dobro.example/.well-known/openid-configuration", "client_id": "gorod"}
OAUTH2 = {
    "protocol": "oauth2",
    "authorization_endpoint": "https://sso.dobro.example/oauth/authorize",
    "token_endpoint": "https://sso.dobro.example/oauth/token",
    "userinfo_endpoint": "https://sso.dobro.example/api/profile",
    "client_id": "gorod",
    "scopes": ["profile"],
}


# --- settings ------------------------------------------------------------------------------------------


def test_minimal_settings_get_safe_defaults() -> None:
    settings = ProviderSettings.model_validate(OIDC)
    assert settings.is_oidc
    assert settings.pkce is True
    assert settings.scopes == ("openid", "email", "profile")
    assert settings.token_endpoint_auth_method == "client_secret_basic"
    assert settings.channel == "dobro.ru"
    assert settings.claims.subject == "sub"
    assert ProviderSettings.model_validate(OAUTH2).is_oidc is False


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"discovery_url": None}, "OIDC without discovery needs issuer, endpoints and jwks_uri"),
        ({"scopes": ["email"]}, "OIDC needs the scope openid"),
        ({"discovery_url": "http://sso.dobro.example/.well-known/openid-configuration"}, "plain http off loopback"),
        ({"discovery_url": "https://user:pw@sso.dobro.example/x"}, "credentials in a URL"),
        ({"client_id": ""}, "empty client id"),
        ({"client_secret": "s3cret"}, "the secret is never a setting"),
        ({"authorize_params": {"redirect_uri": "https://evil.example/"}}, "our own parameters"),
        ({"token_endpoint_auth_method": "none", "pkce": False}, "a public client without PKCE"),
        ({"claims": {"subject": "a b"}}, "a claim path with a space"),
        ({"scopes": ["openid", 'e"vil']}, "a scope with a quote"),
        ({"channel": "Web Site"}, "a channel that is not a code"),
    ],
)
def test_invalid_oidc_settings_are_refused(change: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError):
        ProviderSettings.model_validate({**OIDC, **change})


@pytest.mark.parametrize("missing", ["authorization_endpoint", "token_endpoint", "userinfo_endpoint"])
def test_plain_oauth2_needs_its_three_endpoints(missing: str) -> None:
    with pytest.raises(ValidationError):
        ProviderSettings.model_validate({key: value for key, value in OAUTH2.items() if key != missing})
    with pytest.raises(ValidationError):
        ProviderSettings.model_validate({**OAUTH2, "discovery_url": OIDC["discovery_url"]})


def test_loopback_http_is_allowed_for_development() -> None:
    settings = ProviderSettings.model_validate({**OIDC, "discovery_url": "http://127.0.0.1:9000/.well-known/x"})
    assert settings.discovery_url == "http://127.0.0.1:9000/.well-known/x"


def test_the_secret_lives_in_the_environment_and_the_redirect_uri_is_derived() -> None:
    assert secret_variable("dobro") == "AUTH_IDP_DOBRO_CLIENT_SECRET"
    assert secret_variable("vk-id") == "AUTH_IDP_VK_ID_CLIENT_SECRET"
    assert redirect_uri("https://gorod.example/", "dobro") == "https://gorod.example/signin/dobro/callback"


def test_the_documented_examples_are_valid_settings() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) >= 2
    kinds = {ProviderSettings.model_validate(json.loads(block)).protocol for block in blocks}
    assert kinds == {"oidc", "oauth2"}


def test_the_documentation_names_every_setting() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in [*ProviderSettings.model_fields, *(f"claims.{field}" for field in ClaimsMapping.model_fields)]:
        assert f"`{name}`" in text, name


# --- claims ---------------------------------------------------------------------------------------------


def test_claims_are_found_by_dotted_paths_and_by_dotted_names() -> None:
    claims = {"data": {"user": {"id": 42}}, "https://dobro.ru/claims.vid": "V-1", "flat": "x"}
    assert claim_at(claims, "data.user.id") == 42
    assert claim_at(claims, "https://dobro.ru/claims.vid") == "V-1"
    assert claim_at(claims, "flat") == "x"
    assert claim_at(claims, "data.user.missing") is None
    assert claim_at(claims, "flat.deeper") is None


def test_mapping_takes_what_it_can_trust() -> None:
    mapping = ClaimsMapping(
        subject="data.id",
        email="data.mail",
        email_verified="data.mail_ok",
        name=None,
        given_name="data.first",
        family_name="data.last",
        volunteer_id="data.volunteer",
    )
    identity = map_claims(
        "dobro",
        {
            "data": {
                "id": 1001,
                "mail": " Anna@Example.ORG ",
                "mail_ok": "true",
                "first": "Анна",
                "last": "Петрова",
                "volunteer": 555,
            }
        },
        mapping,
    )
    assert identity == ExternalIdentity(
        provider="dobro",
        subject="1001",
        email="anna@example.org",
        email_verified=True,
        name="Анна Петрова",
        volunteer_id="555",
    )


def test_mapping_drops_malformed_claims_but_requires_the_subject() -> None:
    mapping = ClaimsMapping(volunteer_id="vid")
    identity = map_claims(
        "dobro",
        {"sub": "u1", "email": "not-an-address", "email_verified": True, "name": ["x"], "vid": {"a": 1}},
        mapping,
    )
    assert identity.email is None
    assert identity.email_verified is False  # nothing verified without an address
    assert identity.name is None
    assert identity.volunteer_id is None
    for claims in ({}, {"sub": ""}, {"sub": True}, {"sub": {"id": 1}}, {"sub": "x" * 300}, {"sub": "a\nb"}):
        with pytest.raises(ProviderError):
            map_claims("dobro", claims, mapping)


def test_stored_claims_round_trip() -> None:
    identity = ExternalIdentity("dobro", "s", "a@example.org", True, "Имя", "V-1")
    assert ExternalIdentity.from_stored("dobro", "s", identity.stored_claims()) == identity
    assert ExternalIdentity("dobro", "s").stored_claims() == {"email_verified": False}


# --- flow ---------------------------------------------------------------------------------------------


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    assert (
        code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_each_flow_has_fresh_secrets_and_the_state_is_compared_by_hash() -> None:
    first, second = new_flow(), new_flow()
    assert len({first.state, first.nonce, first.code_verifier, second.state, second.nonce}) == 5
    assert 43 <= len(first.code_verifier) <= 128
    assert same_state(first.state, first.state_hash)
    assert not same_state(second.state, first.state_hash)
    assert not same_state(None, first.state_hash)
    assert not same_state("", first.state_hash)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "/"),
        ("", "/"),
        ("/profile", "/profile"),
        ("/oauth2/authorize?client_id=gorod-web&scope=openid", "/oauth2/authorize?client_id=gorod-web&scope=openid"),
        ("/путь", "/путь"),
        ("https://evil.example/", None),
        ("//evil.example", None),
        ("/\\evil.example", None),
        ("\\\\evil.example", None),
        ("javascript:alert(1)", None),
        ("profile", None),
        ("/\nLocation: x", None),
        ("/ x", None),
        ("/" + "a" * 3000, None),
    ],
)
def test_next_is_a_path_on_our_site(value: str | None, expected: str | None) -> None:
    assert safe_next(value) == expected


# --- the configuration command ------------------------------------------------------------------------------


async def test_the_command_configures_checks_and_disables(auth_settings: AuthSettings, tmp_path: Path) -> None:
    from auth.federation.__main__ import run

    slug = f"c{uuid.uuid4().hex[:8]}"
    good = tmp_path / "good.json"
    good.write_text(json.dumps({**OIDC, "discovery_url": "http://127.0.0.1:9/.well-known/openid-configuration"}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**OIDC, "client_secret": "must not be here"}))

    out = io.StringIO()
    assert await run(["configure", slug, "--name", "DOBRO.RU", "--settings", str(bad)], auth_settings, out) == 2
    assert "not configured" in out.getvalue()
    out = io.StringIO()
    assert await run(["configure", slug, "--name", "DOBRO.RU", "--settings", str(good)], auth_settings, out) == 0
    assert f"{auth_settings.jwt_issuer}/signin/{slug}/callback" in out.getvalue()
    assert secret_variable(slug) in out.getvalue()

    out = io.StringIO()
    assert await run(["list"], auth_settings, out) == 0
    assert f"{slug}\tenabled\tDOBRO.RU" in out.getvalue()

    out = io.StringIO()  # nothing listens on port 9, and no secret is set: both are reported
    assert await run(["check", slug], auth_settings, out) == 1
    assert "NOT SET" in out.getvalue()
    assert "cannot reach the provider" in out.getvalue()

    assert await run(["disable", slug], auth_settings, io.StringIO()) == 0
    out = io.StringIO()
    await run(["list"], auth_settings, out)
    assert f"{slug}\tdisabled" in out.getvalue()
    assert await run(["enable", "no-such-provider"], auth_settings, io.StringIO()) == 1
