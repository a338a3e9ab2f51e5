"""People's account pages, rendered on the server: sign-in, registration, e-mail confirmation, password
reset, sign-out and the profile. Russian, phone-first, no JavaScript; every page is rendered with
:func:`auth.api.pages_render.render` (CSRF token, ``frame-ancestors 'none'``), every form POST checks CSRF.

Handlers are thin: the rules are in :mod:`auth.domain.accounts`, the transactions in
:mod:`auth.usecases.accounts`. E-mail is sent after the response (a background task), so an answer takes
the same time whether or not an account exists, and a failed send never loses the account.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from auth.api.csrf import check_csrf
from auth.api.deps import auth_settings, browser_session, clear_session_cookie, set_session_cookie
from auth.api.pages_render import render
from auth.domain.accounts import (
    InvalidInput,
    Registration,
    normalise_email,
    safe_next,
    validate_profile,
    validate_registration,
)
from auth.usecases import accounts, federation
from auth.usecases.mail import Mail, send_all
from servicekit.app import service_context

router = APIRouter(tags=["pages"])

FormStr = Annotated[str, Form()]
CsrfField = Annotated[str | None, Form(alias="csrf_token")]

LOCKED_ACCOUNT = (
    "Слишком много неудачных попыток входа в эту учётную запись. Вход временно заблокирован на 15 минут. "
    "Если вы забыли пароль, восстановите его по ссылке «Забыли пароль?»."
)
LOCKED_IP = (
    "Слишком много неудачных попыток входа с вашего устройства или сети. Вход временно заблокирован "
    "на 15 минут. Попробуйте позже."
)
WRONG_CREDENTIALS = "Неверный адрес электронной почты или пароль."


def _client_ip(request: Request) -> str:
    """The client's address as the gateway passes it on (``request.client``)."""
    return request.client.host if request.client else "unknown"


def _csrf_refused(request: Request, token: str | None, *, back: str) -> HTMLResponse | None:
    try:
        check_csrf(request, token)
    except HTTPException as refused:
        return render(
            request,
            "page_error.html",
            {"title": "Форма устарела", "error": str(refused.detail), "back": back},
            status=403,
        )
    return None


def _with_mail(request: Request, response: Response, mails: list[Mail]) -> Response:
    if mails:
        response.background = BackgroundTask(send_all, auth_settings(request), mails)
    return response


def _signin_redirect(target: str) -> RedirectResponse:
    return RedirectResponse(f"/signin?next={quote(target, safe='/')}", status_code=303)


# --- sign-in --------------------------------------------------------------------------------------------


@router.get("/signin", response_class=HTMLResponse, summary="Sign-in page (anyone)")
async def signin_page(
    request: Request,
    next_: Annotated[str | None, Query(alias="next")] = None,
    prompt: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Anyone. A browser already signed in goes straight on to ``next`` (a path on this site only), unless
    the client asked to sign in again (``prompt=login`` from /oauth2/authorize)."""
    if prompt != "login" and await browser_session(request) is not None:
        return RedirectResponse(safe_next(next_), status_code=303)
    return await _signin_form(request, {"next": safe_next(next_, default=""), "email": ""})


async def _signin_form(request: Request, context: dict[str, Any], *, status: int = 200) -> Response:
    """The sign-in page, offering every enabled external provider ("Войти через DOBRO.RU")."""
    providers = await federation.enabled_providers(service_context(request))
    return render(request, "signin.html", {**context, "providers": providers}, status=status)


@router.post("/signin", response_class=HTMLResponse, summary="Sign in with e-mail and password (anyone)")
async def signin(
    request: Request,
    csrf: CsrfField = None,
    email: FormStr = "",
    password: FormStr = "",
    next_: Annotated[str, Form(alias="next")] = "",
) -> Response:
    """Anyone, with the CSRF token of the form. Throttled per account and per client address."""
    target = safe_next(next_, default="")
    if refused := _csrf_refused(request, csrf, back="/signin"):
        return refused
    kit = service_context(request)
    settings = auth_settings(request)
    result = await accounts.sign_in(
        kit,
        settings,
        email,
        password,
        _client_ip(request),
        previous_cookie=request.cookies.get(settings.session_cookie),
    )
    context: dict[str, Any] = {"next": target, "email": email.strip()[:320]}
    status = accounts.SignInStatus
    if result.status is status.OK and result.cookie:
        response = RedirectResponse(target or "/profile", status_code=303)
        set_session_cookie(response, settings, result.cookie)
        return response
    if result.status is status.UNCONFIRMED:
        return await _signin_form(
            request,
            {**context, "unconfirmed": True, "error": "Адрес электронной почты ещё не подтверждён."},
            status=403,
        )
    if result.status is status.ACCOUNT_LOCKED:
        return await _signin_form(request, {**context, "error": LOCKED_ACCOUNT}, status=429)
    if result.status is status.IP_LOCKED:
        return await _signin_form(request, {**context, "error": LOCKED_IP}, status=429)
    return await _signin_form(request, {**context, "error": WRONG_CREDENTIALS}, status=401)


# --- sign-out -------------------------------------------------------------------------------------------


@router.get("/signout", response_class=HTMLResponse, summary="Sign-out confirmation page (anyone)")
async def signout_page(request: Request) -> Response:
    """Anyone. Shows a button: signing out changes state, so it is a POST with a CSRF token."""
    if await browser_session(request) is None:
        return render(request, "signed_out.html", {"was_signed_in": False})
    return render(request, "signout.html")


@router.post("/signout", response_class=HTMLResponse, summary="Sign out of this browser (anyone)")
async def signout(request: Request, csrf: CsrfField = None) -> Response:
    """Anyone, with the CSRF token of the form: ends this browser's session and clears its cookie."""
    if refused := _csrf_refused(request, csrf, back="/signout"):
        return refused
    settings = auth_settings(request)
    was_signed_in = await browser_session(request) is not None
    await accounts.sign_out(service_context(request), request.cookies.get(settings.session_cookie))
    response = render(request, "signed_out.html", {"was_signed_in": was_signed_in})
    clear_session_cookie(response, settings)
    return response


# --- registration and e-mail confirmation ---------------------------------------------------------------


def _register_page(
    request: Request,
    consent: accounts.ConsentDocument,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    context: dict[str, Any] = {"consent": consent, "values": values or {}, "errors": errors or {}}
    return render(request, "register.html", context, status=status)


@router.get("/register", response_class=HTMLResponse, summary="Registration page (anyone)")
async def register_page(request: Request) -> Response:
    """Anyone; a browser already signed in goes to its profile."""
    if await browser_session(request) is not None:
        return RedirectResponse("/profile", status_code=303)
    return _register_page(request, await accounts.current_consent_document(service_context(request)))


@router.post("/register", response_class=HTMLResponse, summary="Register an account (anyone)")
async def register(
    request: Request,
    csrf: CsrfField = None,
    email: FormStr = "",
    password: FormStr = "",
    full_name: FormStr = "",
    phone: FormStr = "",
    home_territory: FormStr = "",
    consent: FormStr = "",
    consent_version: FormStr = "",
) -> Response:
    """Anyone, with the CSRF token of the form. The answer is the same whether or not the e-mail already
    has an account (its owner is told by mail)."""
    if refused := _csrf_refused(request, csrf, back="/register"):
        return refused
    kit = service_context(request)
    document = await accounts.current_consent_document(kit)
    values = {"email": email, "full_name": full_name, "phone": phone, "home_territory": home_territory}
    checked = validate_registration(
        email=email,
        password=password,
        full_name=full_name,
        phone=phone,
        home_territory=home_territory,
        consent=consent == "yes",
        consent_version=consent_version,
        current_consent_version=document.version,
    )
    if not isinstance(checked, Registration):
        return _register_page(request, document, values=values, errors=checked, status=400)
    try:
        mails = await accounts.register(kit, auth_settings(request), checked)
    except InvalidInput as error:  # the consent document changed while the form was open
        refreshed = await accounts.current_consent_document(kit)
        return _register_page(request, refreshed, values=values, errors={"consent": str(error)}, status=400)
    return _with_mail(request, render(request, "check_email.html", {"kind": "register"}), mails)


@router.get("/confirm-email", response_class=HTMLResponse, summary="Open an e-mail confirmation link (anyone)")
async def confirm_email(request: Request, token: str | None = None) -> Response:
    """Anyone holding the link: the link itself is the proof (single use, 24 hours)."""
    outcome = await accounts.confirm_email(service_context(request), token)
    errors = {
        accounts.ConfirmOutcome.INVALID: "Ссылка недействительна: она устарела или уже была использована.",
        accounts.ConfirmOutcome.EMAIL_TAKEN: "Этот адрес уже используется другой учётной записью. Адрес не изменён.",
    }
    error = errors.get(outcome)
    return render(request, "confirm.html", {"outcome": outcome.value, "error": error}, status=400 if error else 200)


@router.post("/confirm-email", response_class=HTMLResponse, summary="Send the confirmation link again (anyone)")
async def resend_confirmation(request: Request, csrf: CsrfField = None, email: FormStr = "") -> Response:
    """Anyone, with the CSRF token of the form; the same answer whatever the address (at most a few links
    an hour per account)."""
    if refused := _csrf_refused(request, csrf, back="/signin"):
        return refused
    mails = await accounts.resend_confirmation(service_context(request), auth_settings(request), email)
    return _with_mail(request, render(request, "check_email.html", {"kind": "resend"}), mails)


# --- password reset -------------------------------------------------------------------------------------


@router.get("/password/forgot", response_class=HTMLResponse, summary="Forgotten-password page (anyone)")
async def forgot_page(request: Request) -> Response:
    """Anyone."""
    return render(request, "forgot.html", {"email": "", "errors": {}})


@router.post("/password/forgot", response_class=HTMLResponse, summary="Send a password-reset link (anyone)")
async def forgot(request: Request, csrf: CsrfField = None, email: FormStr = "") -> Response:
    """Anyone, with the CSRF token of the form; the same answer whether or not the account exists."""
    if refused := _csrf_refused(request, csrf, back="/password/forgot"):
        return refused
    try:
        normalise_email(email)
    except InvalidInput as error:
        return render(request, "forgot.html", {"email": email, "errors": {"email": str(error)}}, status=400)
    mails = await accounts.request_password_reset(service_context(request), auth_settings(request), email)
    return _with_mail(request, render(request, "check_email.html", {"kind": "reset"}), mails)


_INVALID_RESET_LINK = "Ссылка для смены пароля недействительна: она устарела или уже была использована."


@router.get("/password/reset", response_class=HTMLResponse, summary="New-password page of a reset link (anyone)")
async def reset_page(request: Request, token: str | None = None) -> Response:
    """Anyone holding the link (single use, 1 hour)."""
    if not await accounts.reset_link_valid(service_context(request), token):
        return render(request, "reset.html", {"invalid_link": True, "error": _INVALID_RESET_LINK}, status=400)
    return render(request, "reset.html", {"token": token, "errors": {}})


@router.post("/password/reset", response_class=HTMLResponse, summary="Set a new password via a reset link (anyone)")
async def reset(request: Request, csrf: CsrfField = None, token: FormStr = "", password: FormStr = "") -> Response:
    """Anyone holding the link, with the CSRF token of the form. Ends every session of the account."""
    if refused := _csrf_refused(request, csrf, back="/password/forgot"):
        return refused
    settings = auth_settings(request)
    try:
        outcome = await accounts.reset_password(service_context(request), token, password)
    except InvalidInput as error:
        return render(request, "reset.html", {"token": token, "errors": {"password": str(error)}}, status=400)
    if outcome is accounts.ResetOutcome.INVALID_LINK:
        return render(request, "reset.html", {"invalid_link": True, "error": _INVALID_RESET_LINK}, status=400)
    response = render(
        request, "signin.html", {"next": "", "email": "", "message": "Пароль изменён. Войдите с новым паролем."}
    )
    clear_session_cookie(response, settings)
    return response


# --- profile --------------------------------------------------------------------------------------------


def _profile_page(
    request: Request,
    profile: accounts.Profile,
    *,
    values: dict[str, str | None] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    shown = values or {
        "full_name": profile.full_name,
        "email": profile.email,
        "phone": profile.phone,
        "home_territory": profile.home_territory,
    }
    return render(
        request,
        "profile.html",
        {
            "values": shown,
            "errors": errors or {},
            "message": message,
            "has_email": profile.email is not None,
            "email_verified": profile.email_verified,
            "consent_version": profile.consent_version,
            "consent_at": profile.consent_at,
        },
        status=status,
    )


@router.get("/profile", response_class=HTMLResponse, summary="The signed-in person's profile (signed-in only)")
async def profile_page(request: Request) -> Response:
    """Signed-in browsers only; others are sent to sign in first."""
    current = await browser_session(request)
    profile = await accounts.profile(service_context(request), current.user_id) if current else None
    if profile is None:
        return _signin_redirect("/profile")
    return _profile_page(request, profile)


@router.post("/profile", response_class=HTMLResponse, summary="Edit the signed-in person's profile (signed-in only)")
async def edit_profile(
    request: Request,
    csrf: CsrfField = None,
    full_name: FormStr = "",
    email: FormStr = "",
    phone: FormStr = "",
    home_territory: FormStr = "",
) -> Response:
    """Signed-in browsers only, with the CSRF token of the form. A new e-mail takes effect once confirmed."""
    kit = service_context(request)
    current = await browser_session(request)
    profile = await accounts.profile(kit, current.user_id) if current else None
    if profile is None:
        return _signin_redirect("/profile")
    if refused := _csrf_refused(request, csrf, back="/profile"):
        return refused
    values: dict[str, str | None] = {
        "full_name": full_name,
        "email": email,
        "phone": phone,
        "home_territory": home_territory,
    }
    checked = validate_profile(
        full_name=full_name,
        phone=phone,
        home_territory=home_territory,
        email=email,
        has_email=profile.email is not None,
    )
    if isinstance(checked, dict):
        return _profile_page(request, profile, values=values, errors=checked, status=400)
    result = await accounts.update_profile(kit, auth_settings(request), profile.user_id, checked)
    if not result.found:
        return _signin_redirect("/profile")
    message = "Изменения сохранены." if result.changed else "Изменений нет."
    if result.email_change_requested:
        message = (
            "Изменения сохранены. " if result.changed else ""
        ) + "Мы отправили письмо со ссылкой на новый адрес: он заменит прежний, когда вы откроете ссылку."
    updated = await accounts.profile(kit, profile.user_id) or profile
    return _with_mail(request, _profile_page(request, updated, message=message), result.mails)
