"""The OAuth 2.0 / OpenID Connect endpoints: discovery, JWKS, authorize, token, userinfo, introspect, revoke,
RP-initiated logout. Thin handlers: the request is read into a snapshot, the use case
(:mod:`auth.usecases.tokens`) decides and persists, the answer goes back in the format each RFC requires."""

from __future__ import annotations

from authlib.consts import default_json_headers
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from auth.api.csrf import CSRF_FIELD, check_csrf
from auth.api.deps import auth_settings, browser_session, clear_session_cookie, key_ring
from auth.api.pages_render import SECURITY_HEADERS, render
from auth.oauth.http import HttpRequest, MalformedRequest, OAuthResponse, read_request, to_starlette
from auth.usecases import tokens
from servicekit.app import service_context

router = APIRouter(tags=["oauth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PUBLIC_CACHE = {"Cache-Control": "public, max-age=300"}
CORS_MAX_AGE = "600"


async def _snapshot(request: Request) -> HttpRequest:
    return await read_request(request, issuer=auth_settings(request).jwt_issuer)


def _malformed() -> OAuthResponse:
    body = {"error": "invalid_request", "error_description": "The request body is too large or unreadable."}
    return OAuthResponse(400, body, list(default_json_headers))


def _cors(request: Request, allowed_origins: frozenset[str]) -> dict[str, str]:
    """Echo the Origin only if the client registered it: never ``*``, never ``null``, no credentials."""
    headers = {"Vary": "Origin"}
    origin = request.headers.get("origin")
    if origin and origin not in ("*", "null") and origin in allowed_origins:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


async def _preflight(request: Request) -> Response:
    origin = request.headers.get("origin")
    if not origin or origin in ("*", "null"):
        return Response(status_code=403, headers={"Vary": "Origin"})
    if not await tokens.cors_origin_registered(service_context(request), origin):
        return Response(status_code=403, headers={"Vary": "Origin"})
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": CORS_MAX_AGE,
            "Vary": "Origin",
        },
    )


# --- discovery ---------------------------------------------------------------------------------------


@router.get(
    "/.well-known/openid-configuration",
    summary="OpenID Provider Metadata (OIDC Discovery, RFC 8414). Public: anyone may read it.",
)
async def openid_configuration(request: Request) -> JSONResponse:
    return JSONResponse(tokens.discovery(auth_settings(request)), headers=PUBLIC_CACHE)


@router.get(
    "/.well-known/jwks.json",
    summary="The public keys that verify our tokens (JWKS), retired keys included until their tokens expire. "
    "Public: anyone may read it.",
)
async def jwks(request: Request) -> JSONResponse:
    keys = key_ring(request)
    await keys.signing_key()  # creates the first key on a fresh database: the set is never empty
    return JSONResponse(await keys.jwks(), headers=PUBLIC_CACHE)


# --- authorization endpoint --------------------------------------------------------------------------


@router.get(
    "/oauth2/authorize",
    response_class=HTMLResponse,
    summary="Authorization endpoint: code flow with PKCE (S256). Any browser; a registered client and its "
    "exact redirect_uri are required, else an error page and no redirect. Without a session: to /signin.",
)
@router.post(
    "/oauth2/authorize",
    response_class=HTMLResponse,
    summary="Authorization endpoint: code flow with PKCE (S256). Any browser; a registered client and its "
    "exact redirect_uri are required, else an error page and no redirect. Without a session: to /signin.",
    operation_id="authorize_post",
)
async def authorize(request: Request) -> Response:
    """OpenID Connect requires GET and POST here. A POST is a protocol request, not one of our forms, so it has
    no CSRF token: coming from another site it carries no session cookie (SameSite=Lax), so it can only lead
    to the sign-in page, never to a code."""
    try:
        http = await _snapshot(request)
    except MalformedRequest:
        return render(request, "oauth_error.html", {"error": tokens.PAGE_BAD_REQUEST}, status=400)
    outcome = await tokens.authorize(service_context(request), http, await browser_session(request))
    if outcome.redirect_to is None:
        context = {"error": outcome.error or tokens.PAGE_BAD_REQUEST, "detail": outcome.detail}
        return render(request, "oauth_error.html", context, status=400)
    return RedirectResponse(outcome.redirect_to, status_code=302, headers=SECURITY_HEADERS)


# --- token endpoint ----------------------------------------------------------------------------------


@router.post(
    "/oauth2/token",
    summary="Token endpoint: authorization_code, refresh_token, client_credentials. Registered clients only: "
    "confidential ones authenticate (client_secret_basic or client_secret_post), public ones send client_id "
    "(and prove PKCE). CORS only for the client's registered origins.",
)
async def token(request: Request) -> Response:
    try:
        http = await _snapshot(request)
    except MalformedRequest:
        return to_starlette(_malformed())
    result = await tokens.token(service_context(request), key_ring(request), http)
    return to_starlette(result.response, extra_headers=_cors(request, result.allowed_origins))


@router.options("/oauth2/token", include_in_schema=False)
async def token_preflight(request: Request) -> Response:
    return await _preflight(request)


# --- userinfo ----------------------------------------------------------------------------------------


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@router.get(
    "/oauth2/userinfo",
    summary="OpenID Connect UserInfo: the token's own user, claims by scope. Only the holder of a valid, "
    "unrevoked access token of ours with scope openid.",
)
@router.post(
    "/oauth2/userinfo",
    summary="OpenID Connect UserInfo: the token's own user, claims by scope. Only the holder of a valid, "
    "unrevoked access token of ours with scope openid.",
    operation_id="userinfo_post",
)
async def userinfo(request: Request) -> JSONResponse:
    try:
        claims = await tokens.userinfo(service_context(request), key_ring(request), _bearer(request))
    except tokens.BearerError as error:
        challenge = f'Bearer realm="gorod", error="{error.error}", error_description="{error.description}"'
        return JSONResponse(
            {"error": error.error, "error_description": error.description},
            status_code=error.status,
            headers={**NO_STORE, "WWW-Authenticate": challenge},
        )
    return JSONResponse(claims, headers=NO_STORE)


# --- introspection and revocation --------------------------------------------------------------------


@router.post(
    "/oauth2/introspect",
    summary="Token introspection (RFC 7662). Only authenticated resource-server clients allowed to introspect "
    "(401 without valid client credentials, 403 for other clients).",
)
async def introspect(request: Request) -> Response:
    try:
        http = await _snapshot(request)
    except MalformedRequest:
        return to_starlette(_malformed())
    return to_starlette(await tokens.introspect(service_context(request), key_ring(request), http))


@router.post(
    "/oauth2/revoke",
    summary="Token revocation (RFC 7009). The client the token was issued to (authenticated if confidential); "
    "a refresh token revokes its whole family.",
)
async def revoke(request: Request) -> Response:
    try:
        http = await _snapshot(request)
    except MalformedRequest:
        return to_starlette(_malformed())
    result = await tokens.revoke(service_context(request), key_ring(request), http)
    return to_starlette(result.response, extra_headers=_cors(request, result.allowed_origins))


@router.options("/oauth2/revoke", include_in_schema=False)
async def revoke_preflight(request: Request) -> Response:
    return await _preflight(request)


# --- RP-initiated logout -----------------------------------------------------------------------------


@router.get(
    "/oauth2/logout",
    response_class=HTMLResponse,
    summary="RP-initiated logout (OIDC). Any browser: with a valid id_token_hint of its user the session ends "
    "and it goes to the client's exactly registered post_logout_redirect_uri; otherwise it confirms on a "
    "page (CSRF-checked form).",
)
@router.post(
    "/oauth2/logout",
    response_class=HTMLResponse,
    summary="RP-initiated logout (OIDC). Any browser: with a valid id_token_hint of its user the session ends "
    "and it goes to the client's exactly registered post_logout_redirect_uri; otherwise it confirms on a "
    "page (CSRF-checked form).",
    operation_id="logout_post",
)
async def logout(request: Request) -> Response:
    settings = auth_settings(request)
    try:
        http = await _snapshot(request)
    except MalformedRequest:
        return render(request, "oauth_logout.html", {"error": tokens.PAGE_BAD_REQUEST, "confirm": True}, status=400)
    confirmed = http.method == "POST" and http.form_value("confirm") is not None
    if confirmed:
        check_csrf(request, http.form_value(CSRF_FIELD))
    outcome = await tokens.logout(
        service_context(request),
        key_ring(request),
        http,
        cookie=request.cookies.get(settings.session_cookie),
        browser=await browser_session(request),
        confirmed=confirmed,
    )
    response: Response
    if outcome.redirect_to:
        response = RedirectResponse(outcome.redirect_to, status_code=302, headers=SECURITY_HEADERS)
    elif outcome.confirm or outcome.error:
        context = {"error": outcome.error, "confirm": outcome.confirm}
        response = render(request, "oauth_logout.html", context, status=400 if outcome.error else 200)
    else:
        response = render(request, "oauth_logged_out.html")
    if outcome.signed_out:
        clear_session_cookie(response, settings)
    return response
