"""The signed-in user's own account (``/api/v1/me``): profile, 152-FZ export and erasure.

Who may call: the account's owner only, signed in either with a bearer access token (its ``sub`` is the
account id; apps and the web client) or with the browser session cookie of our sign-in pages. A bearer
token, when sent, wins; an invalid one is a 401 even if a session cookie is present.

CSRF: the session cookie is ``SameSite=Lax``, so a browser never sends it with another site's DELETE, and
another site cannot read the answers of the GETs; erasing a password account also needs the password.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from auth.api.deps import auth_settings, browser_session, clear_session_cookie
from auth.usecases import personal_data as pd_uc
from servicekit.app import service_context
from servicekit.http.problems import ProblemError
from servicekit.security import REALM, optional_principal

router = APIRouter(prefix="/api/v1/me", tags=["account"])

NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Caller:
    user_id: uuid.UUID
    via: Literal["session", "bearer"]
    auth_time: datetime | None
    token_jti: str | None = None
    token_expires_at: datetime | None = None


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None


def _sign_in_required() -> ProblemError:
    return ProblemError(401, "Нужно войти в систему.", headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'})


async def signed_in_user(request: Request) -> Caller:
    """Dependency: the account owner calling, by bearer token first, else by the browser session."""
    principal = await optional_principal(request)
    if principal is not None:
        try:
            user_id = uuid.UUID(principal.subject)
        except ValueError:
            raise ProblemError(
                403, "Этот вход выдан не пользователю, а программе: личный кабинет ему недоступен."
            ) from None
        jti = principal.claims.get("jti")
        return Caller(
            user_id=user_id,
            via="bearer",
            auth_time=_timestamp(principal.claims.get("auth_time")),
            token_jti=jti if isinstance(jti, str) else None,
            token_expires_at=_timestamp(principal.claims.get("exp")),
        )
    session = await browser_session(request)
    if session is None:
        raise _sign_in_required()
    return Caller(user_id=session.user_id, via="session", auth_time=session.auth_time)


Me = Annotated[Caller, Depends(signed_in_user)]


def _gone() -> ProblemError:
    return ProblemError(
        401,
        "Учётная запись не найдена: она удалена.",
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'},
    )


class ProfileOut(BaseModel):
    id: uuid.UUID
    email: str | None
    email_verified: bool
    name: str
    phone: str | None
    home_territory: str | None
    """OKTMO code of the home territory."""
    roles: list[str]
    created_at: datetime


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(
        default=None,
        max_length=1024,
        description="The current password; required when signed in by the session cookie and the account has one.",
    )


@router.get("", summary="My profile (the signed-in user only)")
async def get_me(request: Request, response: Response, me: Me) -> ProfileOut:
    try:
        found = await pd_uc.profile(service_context(request), me.user_id)
    except pd_uc.AccountGone:
        raise _gone() from None
    response.headers.update(NO_STORE)
    return ProfileOut(
        id=found.id,
        email=found.email,
        email_verified=found.email_verified,
        name=found.name,
        phone=found.phone,
        home_territory=found.home_territory,
        roles=found.roles,
        created_at=found.created_at,
    )


@router.get(
    "/export",
    summary="Download all my data, 152-FZ (the signed-in user only)",
    response_class=JSONResponse,
    responses={200: {"description": "A JSON file with everything auth holds about the account."}},
)
async def export_me(request: Request, me: Me) -> JSONResponse:
    """Account, roles, consents, linked external identities with their claims, active sessions, OAuth grants,
    pending e-mail links and the audit entries about the account, as a JSON attachment. No secrets."""
    try:
        data = await pd_uc.export(service_context(request), me.user_id)
    except pd_uc.AccountGone:
        raise _gone() from None
    filename = f"gorod-account-{me.user_id}.json"
    return JSONResponse(data, headers={"Content-Disposition": f'attachment; filename="{filename}"', **NO_STORE})


@router.delete(
    "",
    status_code=204,
    summary="Erase my account, 152-FZ (the signed-in user only, re-authenticated)",
    responses={
        403: {"description": "Re-authentication failed; nothing was erased."},
        429: {"description": "Too many wrong passwords."},
    },
)
async def erase_me(request: Request, me: Me, body: Annotated[ErasureIn | None, Body()] = None) -> Response:
    """Proof of ownership: by session cookie, the current password in ``{"password": ...}`` (or, for an account
    without a password, a sign-in within the last 10 minutes); by bearer token, its sign-in (``auth_time``)
    within the last 10 minutes, or the current password. The account is anonymised, everything else personal
    is deleted, every session and refresh token is revoked, and ``auth.user.erased.v1`` is published."""
    proof = pd_uc.Reauthentication(
        via=me.via,
        auth_time=me.auth_time,
        password=body.password if body is not None else None,
        token_jti=me.token_jti,
        token_expires_at=me.token_expires_at,
    )
    try:
        await pd_uc.erase(service_context(request), me.user_id, proof)
    except pd_uc.AccountGone:
        raise _gone() from None
    except pd_uc.TooManyAttempts as error:
        raise ProblemError(
            429, str(error), headers={"Retry-After": str(int(pd_uc.WRONG_PASSWORD_WINDOW.total_seconds()))}
        ) from None
    except pd_uc.ErasureRefused as error:
        raise ProblemError(403, str(error)) from None
    response = Response(status_code=204)
    clear_session_cookie(response, auth_settings(request))
    return response
