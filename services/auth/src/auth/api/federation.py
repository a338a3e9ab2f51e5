"""Sign-in through external identity providers ("Войти через DOBRO.RU"): thin handlers over
:mod:`auth.usecases.federation`, which explains the flow and its cookies.

Pages are for anyone's browser (a sign-in in progress is proven by its own signed cookie, never by a
parameter); the unlink endpoint is for the signed-in user only.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.background import BackgroundTask

from auth.api.account import Caller, signed_in_user
from auth.api.csrf import check_csrf
from auth.api.deps import auth_settings, key_ring, set_session_cookie
from auth.api.pages_render import render
from auth.federation.config import Provider
from auth.federation.errors import FederationError
from auth.usecases import accounts
from auth.usecases import federation as usecases
from auth.usecases.mail import send_all
from servicekit.app import service_context
from servicekit.http.problems import ProblemError

log = logging.getLogger(__name__)

router = APIRouter(tags=["federation"])

FLOW_COOKIE = "gorod_federation_flow"
PENDING_COOKIE = "gorod_federation_pending"
COOKIE_PATH = "/signin"


# --- pages -------------------------------------------------------------------------------------------


@router.get(
    "/signin/{provider}",
    summary="Start signing in through an external provider (anyone): redirects to the provider",
    response_class=RedirectResponse,
    status_code=302,
)
async def start(request: Request, provider: str, next: str | None = None) -> Response:
    settings = auth_settings(request)
    chosen: Provider | None = None
    try:
        chosen = await usecases.load_provider(service_context(request), provider)
        redirect = await usecases.start_sign_in(chosen, key_ring(request), issuer=settings.jwt_issuer, next_path=next)
    except FederationError as error:
        return _error_page(request, error, chosen)
    response = RedirectResponse(redirect.url, status_code=302, headers={"Cache-Control": "no-store"})
    _set_cookie(request, response, FLOW_COOKIE, redirect.ticket, max_age=usecases.FLOW_TTL)
    return response


@router.get(
    "/signin/{provider}/callback",
    summary="The provider's redirect back (anyone; accepted only with the flow cookie of this browser)",
    response_class=HTMLResponse,
)
async def callback(request: Request, provider: str) -> Response:
    settings = auth_settings(request)
    chosen: Provider | None = None
    try:
        chosen = await usecases.load_provider(service_context(request), provider)
        outcome = await usecases.finish_sign_in(
            service_context(request),
            key_ring(request),
            chosen,
            issuer=settings.jwt_issuer,
            flow_ticket=request.cookies.get(FLOW_COOKIE),
            params=dict(request.query_params),
            session_ttl=settings.session_ttl,
        )
    except FederationError as error:
        response: Response = _error_page(request, error, chosen)
    else:
        response = _outcome(request, provider, outcome)
    _clear_cookie(request, response, FLOW_COOKIE)
    return response


@router.get(
    "/signin/{provider}/complete",
    summary="Ask a new federated account for what is missing: consent, e-mail (the browser that signed in)",
    response_class=HTMLResponse,
)
async def complete_page(request: Request, provider: str) -> Response:
    settings = auth_settings(request)
    chosen: Provider | None = None
    try:
        chosen = await usecases.load_provider(service_context(request), provider)
        form = await usecases.completion_form(
            service_context(request),
            key_ring(request),
            chosen,
            issuer=settings.jwt_issuer,
            ticket=request.cookies.get(PENDING_COOKIE),
        )
    except FederationError as error:
        return _error_page(request, error, chosen)
    return render(request, "federation_complete.html", {"provider": chosen, "form": form})


@router.post(
    "/signin/{provider}/complete",
    summary="Give the consent (and e-mail) and finish signing in (the browser that signed in; CSRF-checked)",
    response_class=HTMLResponse,
)
async def complete_submit(
    request: Request,
    provider: str,
    csrf_token: Annotated[str | None, Form()] = None,
    consent: Annotated[str | None, Form()] = None,
    document_version: Annotated[str | None, Form(max_length=200)] = None,
    email: Annotated[str | None, Form(max_length=320)] = None,
) -> Response:
    check_csrf(request, csrf_token)
    settings = auth_settings(request)
    kit = service_context(request)
    chosen: Provider | None = None
    ticket = request.cookies.get(PENDING_COOKIE)
    try:
        chosen = await usecases.load_provider(kit, provider)
        try:
            signed_in = await usecases.complete_sign_in(
                kit,
                key_ring(request),
                chosen,
                issuer=settings.jwt_issuer,
                ticket=ticket,
                consent=consent == "yes",
                document_version=document_version,
                email=email,
                session_ttl=settings.session_ttl,
            )
        except usecases.FormRefused as refused:
            form = await usecases.completion_form(
                kit, key_ring(request), chosen, issuer=settings.jwt_issuer, ticket=ticket
            )
            return render(
                request,
                "federation_complete.html",
                {"provider": chosen, "form": form, "error": refused.message, "email": email or ""},
                status=400,
            )
    except FederationError as error:
        return _error_page(request, error, chosen)
    response = _outcome(request, provider, signed_in)
    if signed_in.unconfirmed_email is not None:
        mails = await accounts.resend_confirmation(kit, settings, signed_in.unconfirmed_email)
        response.background = BackgroundTask(send_all, settings, mails)
    return response


@router.get(
    "/signin/{provider}/link",
    summary="An account has the provider's e-mail: ask for its password before linking (the browser that signed in)",
    response_class=HTMLResponse,
)
async def link_page(request: Request, provider: str) -> Response:
    settings = auth_settings(request)
    chosen: Provider | None = None
    try:
        chosen = await usecases.load_provider(service_context(request), provider)
        form = await usecases.link_form(
            key_ring(request), chosen, issuer=settings.jwt_issuer, ticket=request.cookies.get(PENDING_COOKIE)
        )
    except FederationError as error:
        return _error_page(request, error, chosen)
    return render(request, "federation_link.html", {"provider": chosen, "form": form, "email": form.email or ""})


@router.post(
    "/signin/{provider}/link",
    summary="Sign in to the existing account with its password and link it (the browser that signed in; "
    "CSRF-checked, throttled per account)",
    response_class=HTMLResponse,
)
async def link_submit(
    request: Request,
    provider: str,
    csrf_token: Annotated[str | None, Form()] = None,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    settings = auth_settings(request)
    chosen: Provider | None = None
    ticket = request.cookies.get(PENDING_COOKIE)
    try:
        chosen = await usecases.load_provider(service_context(request), provider)
        try:
            outcome = await usecases.link_with_password(
                service_context(request),
                key_ring(request),
                chosen,
                issuer=settings.jwt_issuer,
                ticket=ticket,
                email=email,
                password=password,
                ip=request.client.host if request.client else "unknown",
                session_ttl=settings.session_ttl,
            )
        except usecases.FormRefused as refused:
            form = await usecases.link_form(key_ring(request), chosen, issuer=settings.jwt_issuer, ticket=ticket)
            return render(
                request,
                "federation_link.html",
                {"provider": chosen, "form": form, "error": refused.message, "email": email},
                status=400,
            )
    except FederationError as error:
        return _error_page(request, error, chosen)
    return _outcome(request, provider, outcome)


# --- the user's own API ------------------------------------------------------------------------------


@router.delete(
    "/api/v1/me/identities/{provider}",
    summary="Unlink the caller's account from an external provider (the signed-in user only: browser session "
    "or bearer token)",
    status_code=204,
    response_class=Response,
    responses={
        401: {"description": "Not signed in"},
        404: {"description": "Not linked"},
        409: {"description": "It is the only way to sign in"},
    },
)
async def unlink(request: Request, provider: str, me: Annotated[Caller, Depends(signed_in_user)]) -> Response:
    try:
        await usecases.unlink_identity(service_context(request), me.user_id, provider)
    except usecases.NotLinked:
        raise ProblemError(404, "Ваша учётная запись не связана с этим способом входа.") from None
    except usecases.LastSignInMethod:
        raise ProblemError(
            409,
            "Это единственный способ войти в вашу учётную запись: сначала задайте пароль, потом отвяжите вход.",
        ) from None
    return Response(status_code=204)


# --- helpers -----------------------------------------------------------------------------------------


def _outcome(request: Request, slug: str, outcome: usecases.Outcome) -> Response:
    if isinstance(outcome, usecases.SignedIn):
        response = RedirectResponse(outcome.next, status_code=303, headers={"Cache-Control": "no-store"})
        set_session_cookie(response, auth_settings(request), outcome.session_cookie)
        _clear_cookie(request, response, PENDING_COOKIE)
        return response
    step = "complete" if isinstance(outcome, usecases.MustComplete) else "link"
    response = RedirectResponse(
        f"/signin/{quote(slug, safe='')}/{step}", status_code=303, headers={"Cache-Control": "no-store"}
    )
    _set_cookie(request, response, PENDING_COOKIE, outcome.ticket, max_age=usecases.PENDING_TTL)
    return response


def _error_page(request: Request, error: FederationError, provider: Provider | None) -> HTMLResponse:
    log.warning(
        "federated sign-in via %s refused: %s",
        provider.slug if provider is not None else "an unknown provider",
        error.reason,
    )
    return render(
        request,
        "federation_error.html",
        {"problem": error.message, "provider_name": provider.display_name if provider is not None else None},
        status=error.status,
    )


def _set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        secure=auth_settings(request).cookie_secure,
        samesite="lax",
        path=COOKIE_PATH,
    )


def _clear_cookie(request: Request, response: Response, name: str) -> None:
    if name in request.cookies:
        response.delete_cookie(
            name, path=COOKIE_PATH, secure=auth_settings(request).cookie_secure, httponly=True, samesite="lax"
        )
