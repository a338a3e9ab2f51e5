"""The client registry's rules (auth.domain.clients): pure functions, no I/O."""

from __future__ import annotations

import re
from typing import Any

import pytest

from auth.domain.clients import (
    KINDS,
    READ_SCOPES,
    SCOPES,
    ClientDraft,
    ClientSpec,
    InvalidClient,
    canonical_origin,
    check_client,
    check_client_id,
    is_loopback_redirect,
    redirect_uri_problem,
)
from auth.settings import DEFAULT_AUDIENCES

CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
SITE = "https://gorod-tver.example.ru"


def check(**fields: Any) -> ClientSpec:
    return check_client(ClientDraft(**fields), known_audiences=DEFAULT_AUDIENCES)


def errors_of(**fields: Any) -> dict[str, str]:
    with pytest.raises(InvalidClient) as caught:
        check(**fields)
    for error in caught.value.errors:
        assert CYRILLIC.search(error.message), error
    return {error.field: error.message for error in caught.value.errors}


# --- redirect URIs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "uri"),
    [
        ("web", "https://gorod.example.ru/callback"),
        ("web", "http://127.0.0.1:8000/callback"),
        ("web", "http://localhost:3000/cb"),
        ("web", "http://[::1]:8000/cb?x=1"),
        ("mobile", "ru.gorod.app:/callback"),
        ("mobile", "ru.gorod.app:/oauth2redirect/gorod"),
        ("mobile", "http://127.0.0.1/callback"),
        ("mobile", "http://127.0.0.1:51004/callback"),
        ("mobile", "http://[::1]/callback"),
        ("mobile", "https://app.gorod.example.ru/callback"),
        ("widget", f"{SITE}/gorod/callback"),
        ("widget", f"{SITE}:443/cb"),
    ],
)
def test_good_redirect_uris_pass(kind: str, uri: str) -> None:
    assert redirect_uri_problem(kind, uri, (SITE,)) is None


@pytest.mark.parametrize(
    ("kind", "uri", "why"),
    [
        ("web", "/callback", "абсолютный"),
        ("web", "gorod.example.ru/callback", "https"),
        ("web", "https://gorod.example.ru/callback#frag", "фрагмент"),
        ("web", "https://gorod.example.ru/cb#", "фрагмент"),
        ("web", "http://gorod.example.ru/callback", "https"),
        ("web", "https://*.example.ru/callback", "подстановочные"),
        ("web", "https://user:pw@gorod.example.ru/cb", "пароль"),
        ("web", "https:///callback", "домен"),
        ("web", "https://gorod.example.ru/call back", "пробел"),
        ("web", "javascript:alert(1)", "https"),
        ("web", "ru.gorod.app:/callback", "https"),
        ("mobile", "http://localhost:8080/callback", "localhost"),
        ("mobile", "http://192.168.0.10/callback", "127.0.0.1"),
        ("mobile", "gorodapp:/callback", "обратного доменного"),
        ("mobile", "javascript:alert(1)", "обратного доменного"),
        ("mobile", "ru.gorod.app:", "путь"),
        ("mobile", "ru.gorod.app:/cb#x", "фрагмент"),
        ("widget", "https://other.example.ru/callback", "разрешённых сайтов"),
        ("widget", "http://gorod-tver.example.ru/callback", "https"),
        ("web", "https://" + "a" * 2000 + ".ru/", "длиннее"),
    ],
)
def test_bad_redirect_uris_are_refused_with_a_reason(kind: str, uri: str, why: str) -> None:
    problem = redirect_uri_problem(kind, uri, (SITE,))
    assert problem is not None
    assert why in problem or why in problem.replace("не длиннее", "длиннее")


def test_loopback_redirects_are_recognised_for_any_port_matching() -> None:
    assert is_loopback_redirect("http://127.0.0.1:51004/callback")
    assert is_loopback_redirect("http://[::1]/callback")
    assert not is_loopback_redirect("http://localhost:51004/callback")
    assert not is_loopback_redirect("https://127.0.0.1/callback")
    assert not is_loopback_redirect("ru.gorod.app:/callback")


# --- origins --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("https://gorod-tver.example.ru", "https://gorod-tver.example.ru"),
        ("HTTPS://Gorod-Tver.Example.RU", "https://gorod-tver.example.ru"),
        ("https://gorod-tver.example.ru:443", "https://gorod-tver.example.ru"),
        ("https://gorod-tver.example.ru:8443", "https://gorod-tver.example.ru:8443"),
        ("https://пример.рф", "https://xn--e1afmkfd.xn--p1ai"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://localhost:80", "http://localhost"),
        ("http://[::1]:3000", "http://[::1]:3000"),
    ],
)
def test_origins_are_canonical(value: str, canonical: str) -> None:
    assert canonical_origin(value) == canonical


@pytest.mark.parametrize(
    "value",
    [
        "https://gorod-tver.example.ru/",
        "https://gorod-tver.example.ru/widget",
        "https://gorod-tver.example.ru?x=1",
        "https://gorod-tver.example.ru#top",
        "http://gorod-tver.example.ru",
        "ftp://gorod-tver.example.ru",
        "gorod-tver.example.ru",
        "https://user@gorod-tver.example.ru",
        "https://gorod-tver.example.ru:99999",
        "https://gorod tver.example.ru",
        "https://under_score.example.ru",
        "",
    ],
)
def test_anything_but_a_bare_origin_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=CYRILLIC):
        canonical_origin(value)


# --- whole clients --------------------------------------------------------------------------------------


def test_a_web_client_gets_the_public_defaults() -> None:
    spec = check(kind="web", name=" Сайт ", redirect_uris=["http://127.0.0.1:8000/callback"])
    assert spec.name == "Сайт"
    assert spec.grant_types == ("authorization_code", "refresh_token")
    assert spec.scopes == ("openid", "profile", "email", "offline_access")
    assert spec.can_introspect is False
    assert spec.confidential is False


def test_every_public_kind_needs_a_redirect_uri() -> None:
    for kind in ("web", "mobile", "widget"):
        assert "redirect_uris" in errors_of(kind=kind, name="x", allowed_origins=[SITE] if kind == "widget" else None)


def test_a_widget_needs_its_site_and_keeps_redirects_on_it() -> None:
    assert "allowed_origins" in errors_of(kind="widget", name="Виджет", redirect_uris=[f"{SITE}/cb"])
    spec = check(kind="widget", name="Виджет", allowed_origins=[f"{SITE}:443", SITE], redirect_uris=[f"{SITE}/cb"])
    assert spec.allowed_origins == (SITE,)
    errors = errors_of(kind="widget", name="Виджет", allowed_origins=[SITE], redirect_uris=["https://evil.example/cb"])
    assert "redirect_uris.0" in errors


def test_browserless_clients_have_no_redirects_or_origins() -> None:
    errors = errors_of(
        kind="partner",
        name="Партнёр",
        scopes=["open311"],
        audiences=["gateway"],
        redirect_uris=["https://partner.example/cb"],
        allowed_origins=["https://partner.example"],
    )
    assert {"redirect_uris", "allowed_origins"} <= errors.keys()
    assert "allowed_origins" in errors_of(
        kind="mobile", name="App", redirect_uris=["ru.gorod.app:/cb"], allowed_origins=[SITE]
    )


def test_a_partner_is_limited_to_named_audiences_and_api_scopes() -> None:
    errors = errors_of(kind="partner", name="Партнёр")
    assert {"scopes", "audiences"} <= errors.keys()
    errors = errors_of(kind="partner", name="Партнёр", scopes=["open311", "openid", "email"], audiences=["gateway"])
    assert {"scopes.1", "scopes.2"} == {f for f in errors if f.startswith("scopes")}
    errors = errors_of(kind="partner", name="Партнёр", scopes=["open311"], audiences=["gateway", "billing"])
    assert "audiences.1" in errors
    spec = check(kind="partner", name="Партнёр", scopes=["open311", *READ_SCOPES], audiences=["gateway", "problems"])
    assert spec.grant_types == ("client_credentials",)
    assert spec.confidential


def test_grant_types_follow_the_kind() -> None:
    errors = errors_of(kind="web", name="x", redirect_uris=["https://a.example/cb"], grant_types=["client_credentials"])
    assert "grant_types.0" in errors
    errors = errors_of(kind="mobile", name="x", redirect_uris=["ru.gorod.app:/cb"], grant_types=["refresh_token"])
    assert "grant_types" in errors  # authorization_code is required
    errors = errors_of(
        kind="partner", name="x", scopes=["open311"], audiences=["gateway"], grant_types=["authorization_code"]
    )
    assert "grant_types.0" in errors
    errors = errors_of(
        kind="web", name="x", redirect_uris=["https://a.example/cb"], grant_types=["authorization_code"], scopes=None
    )
    assert "offline_access" in " ".join(errors.values())  # the default scopes ask for refresh tokens


def test_unknown_scopes_are_refused() -> None:
    errors = errors_of(kind="web", name="x", redirect_uris=["https://a.example/cb"], scopes=["openid", "admin"])
    assert list(errors) == ["scopes.1"]
    assert "problems:read" in errors["scopes.1"]  # names the known ones


def test_every_scope_is_documented_in_russian() -> None:
    assert {"openid", "profile", "email", "offline_access", "open311", "problems:read", "problems:write"} <= set(SCOPES)
    for scope, meaning in SCOPES.items():
        assert CYRILLIC.search(meaning), scope


def test_only_a_resource_server_can_introspect() -> None:
    spec = check(kind="resource_server", name="Шлюз")
    assert spec.can_introspect is True
    assert spec.grant_types == ()
    assert check(kind="resource_server", name="Шлюз", can_introspect=False).can_introspect is False
    for value in (True, False):
        errors = errors_of(kind="partner", name="x", scopes=["open311"], audiences=["gateway"], can_introspect=value)
        assert list(errors) == ["can_introspect"]
    assert "can_introspect" in errors_of(
        kind="web", name="x", redirect_uris=["https://a.example/cb"], can_introspect=True
    )


def test_a_resource_server_gets_scopes_only_with_client_credentials() -> None:
    assert "scopes" in errors_of(kind="resource_server", name="x", scopes=["problems:read"])
    spec = check(kind="resource_server", name="x", scopes=["problems:read"], grant_types=["client_credentials"])
    assert spec.scopes == ("problems:read",)


def test_every_problem_is_reported_at_once_with_russian_field_names() -> None:
    with pytest.raises(InvalidClient) as caught:
        check(
            kind="widget",
            name="",
            allowed_origins=["https://site.example/path"],
            redirect_uris=["https://site.example/cb#x"],
            scopes=["openid", "nope"],
            audiences=["nobody"],
        )
    fields = {error.field for error in caught.value.errors}
    assert fields == {"name", "allowed_origins.0", "redirect_uris.0", "scopes.1", "audiences.0"}
    names = caught.value.fields_in_russian
    assert "название (name)" in names
    assert "адреса возврата (redirect_uris)" in names
    assert "разрешённые сайты (origins) (allowed_origins)" in names


def test_an_unknown_kind_is_refused() -> None:
    assert list(errors_of(kind="robot", name="x")) == ["kind"]
    assert set(KINDS) == {"web", "mobile", "widget", "partner", "resource_server"}


@pytest.mark.parametrize("client_id", ["gorod-web", "demo-partner", "ru.gorod.app", "abc", "a_b-9"])
def test_good_client_ids(client_id: str) -> None:
    check_client_id(client_id)


@pytest.mark.parametrize("client_id", ["ab", "Gorod", "-web", "with space", "клиент", "a" * 65, "a/b"])
def test_bad_client_ids(client_id: str) -> None:
    with pytest.raises(InvalidClient):
        check_client_id(client_id)
