"""The authorization endpoint: PKCE S256 only, exact redirect URIs, no redirect to anything unregistered,
sign-in and ``prompt=none`` without a session."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from auth.settings import AuthSettings
from servicekit.app import ServiceContext

from .conftest import MakeUser
from .test_oauth_support import (
    REDIRECT_URI,
    authorize_params,
    exchange,
    get_code,
    pkce,
    query_of,
    register_client,
    sign_in,
)


async def test_code_is_issued_to_the_exact_redirect_uri_with_state_and_iss(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    await sign_in(kit, client, auth_settings, await make_user())
    params = authorize_params(web, pkce()[1])

    response = await client.get("/oauth2/authorize", params=params)

    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    query = query_of(location)
    assert query["code"]
    assert query["state"] == params["state"]
    assert query["iss"] == auth_settings.jwt_issuer  # RFC 9207


@pytest.mark.parametrize(
    "pkce_params",
    [
        pytest.param({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, id="plain"),
        pytest.param({"code_challenge": "x" * 43}, id="no-method-means-plain"),
        pytest.param({}, id="missing"),
    ],
)
async def test_authorize_refuses_without_s256_pkce(
    client: httpx.AsyncClient,
    kit: ServiceContext,
    auth_settings: AuthSettings,
    make_user: MakeUser,
    pkce_params: dict[str, str],
) -> None:
    web = await register_client(kit)
    await sign_in(kit, client, auth_settings, await make_user())
    params = {**authorize_params(web, None), **pkce_params}

    response = await client.get("/oauth2/authorize", params=params)

    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request"
    assert "code" not in query
    assert query["state"] == params["state"]
    assert query["iss"] == auth_settings.jwt_issuer


@pytest.mark.parametrize(
    "redirect_uri",
    [
        pytest.param("https://evil.example/callback", id="other-host"),
        pytest.param(REDIRECT_URI + "/more", id="longer-path"),
        pytest.param(REDIRECT_URI + "?x=1", id="extra-query"),
        pytest.param("https://WEB.example/callback", id="not-exact"),
        pytest.param(None, id="missing"),
    ],
)
async def test_bad_redirect_uri_shows_an_error_page_and_never_redirects(
    client: httpx.AsyncClient,
    kit: ServiceContext,
    auth_settings: AuthSettings,
    make_user: MakeUser,
    redirect_uri: str | None,
) -> None:
    web = await register_client(kit)
    await sign_in(kit, client, auth_settings, await make_user())
    params = authorize_params(web, pkce()[1])
    if redirect_uri is None:
        del params["redirect_uri"]
    else:
        params["redirect_uri"] = redirect_uri

    response = await client.get("/oauth2/authorize", params=params)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "Адрес, на который приложение просит вернуть вас" in response.text
    assert 'role="alert"' in response.text
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_unknown_or_disabled_client_shows_an_error_page_and_never_redirects(client: httpx.AsyncClient) -> None:
    params = {
        "response_type": "code",
        "client_id": "no-such-client",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": "s",
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
    }

    response = await client.get("/oauth2/authorize", params=params)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "не зарегистрировано" in response.text


async def test_error_after_redirect_check_goes_back_to_the_client(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    await sign_in(kit, client, auth_settings, await make_user())
    unsupported = authorize_params(web, pkce()[1], response_type="token")
    too_wide = authorize_params(web, pkce()[1], scope="openid admin")

    first = await client.get("/oauth2/authorize", params=unsupported)
    second = await client.get("/oauth2/authorize", params=too_wide)

    assert query_of(first.headers["location"])["error"] == "unsupported_response_type"
    assert query_of(second.headers["location"])["error"] == "invalid_scope"
    assert query_of(second.headers["location"])["state"] == too_wide["state"]


async def test_without_a_session_the_browser_is_sent_to_sign_in_and_back(
    client: httpx.AsyncClient, kit: ServiceContext
) -> None:
    web = await register_client(kit)
    params = authorize_params(web, pkce()[1])

    response = await client.get("/oauth2/authorize", params=params)

    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith("/signin?next=")
    next_url = unquote(location.removeprefix("/signin?next="))
    assert next_url.startswith("/oauth2/authorize?")
    assert {k: v[0] for k, v in parse_qs(urlsplit(next_url).query).items()} == params


async def test_prompt_none_without_a_session_answers_login_required(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings
) -> None:
    web = await register_client(kit)
    for scope in ("openid profile", "profile"):  # OpenID Connect or plain OAuth
        params = authorize_params(web, pkce()[1], scope=scope, prompt="none")

        response = await client.get("/oauth2/authorize", params=params)

        assert response.status_code == 302
        assert response.headers["location"].startswith(REDIRECT_URI + "?")
        query = query_of(response.headers["location"])
        assert query["error"] == "login_required"
        assert query["state"] == params["state"]
        assert query["iss"] == auth_settings.jwt_issuer


async def test_prompt_login_and_stale_max_age_send_a_signed_in_user_to_sign_in_again(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    await sign_in(kit, client, auth_settings, await make_user())

    forced = await client.get("/oauth2/authorize", params=authorize_params(web, pkce()[1], prompt="login"))
    stale = await client.get("/oauth2/authorize", params=authorize_params(web, pkce()[1], max_age="0"))
    fresh = await client.get("/oauth2/authorize", params=authorize_params(web, pkce()[1], max_age="3600"))

    for response in (forced, stale):
        location = response.headers["location"]
        assert location.startswith("/signin?next=")
        assert location.endswith("&prompt=login")
        next_query = parse_qs(urlsplit(unquote(location.split("next=", 1)[1].removesuffix("&prompt=login"))).query)
        assert "prompt" not in next_query
        assert "max_age" not in next_query
    assert "code" in query_of(fresh.headers["location"])


async def test_mobile_loopback_redirect_may_use_any_port_but_nothing_else_may_differ(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    app = await register_client(kit, kind="mobile", redirect_uris=["http://127.0.0.1/callback"])
    await sign_in(kit, client, auth_settings, await make_user())

    ok = await client.get(
        "/oauth2/authorize", params=authorize_params(app, pkce()[1], redirect_uri="http://127.0.0.1:53127/callback")
    )
    bad = await client.get(
        "/oauth2/authorize", params=authorize_params(app, pkce()[1], redirect_uri="http://127.0.0.1:53127/other")
    )

    assert ok.status_code == 302
    assert ok.headers["location"].startswith("http://127.0.0.1:53127/callback?code=")
    assert bad.status_code == 400
    assert "location" not in bad.headers


async def test_a_code_is_bound_to_its_client_and_redirect_uri(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit, redirect_uris=[REDIRECT_URI, "https://web.example/other"])
    other = await register_client(kit)
    await sign_in(kit, client, auth_settings, await make_user())
    code, verifier, _ = await get_code(client, web)

    wrong_client = await exchange(client, other, code, verifier)
    wrong_redirect = await exchange(client, web, code, verifier, redirect_uri="https://web.example/other")
    right = await exchange(client, web, code, verifier)

    assert wrong_client.status_code == 400
    assert wrong_client.json()["error"] == "invalid_grant"
    assert wrong_redirect.status_code == 400
    assert wrong_redirect.json()["error"] == "invalid_grant"
    assert right.status_code == 200


async def test_authorization_request_may_be_posted_as_a_form(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    await sign_in(kit, client, auth_settings, await make_user())
    params = authorize_params(web, pkce()[1])

    response = await client.post("/oauth2/authorize", data=params)

    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["code"]
    assert query["state"] == params["state"]
