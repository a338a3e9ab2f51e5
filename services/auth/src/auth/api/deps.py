"""What the auth service's handlers share: its settings, key ring, the browser session and its cookie."""

from __future__ import annotations

from fastapi import Request, Response

from auth.settings import AuthSettings
from auth.usecases.keys import KeyRing
from auth.usecases.sessions import BrowserSession, current_session
from servicekit.app import service_context


def auth_settings(request: Request) -> AuthSettings:
    settings = service_context(request).settings
    assert isinstance(settings, AuthSettings)
    return settings


def key_ring(request: Request) -> KeyRing:
    keys: KeyRing = request.app.state.keys
    return keys


async def browser_session(request: Request) -> BrowserSession | None:
    """The signed-in user of this browser (single sign-on across web, widget popup and apps), or None."""
    settings = auth_settings(request)
    raw = request.cookies.get(settings.session_cookie)
    if not raw:
        return None
    async with service_context(request).session_factory() as session:
        return await current_session(session, raw)


def set_session_cookie(response: Response, settings: AuthSettings, raw: str) -> None:
    response.set_cookie(
        settings.session_cookie,
        raw,
        max_age=settings.session_ttl,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
    )


def clear_session_cookie(response: Response, settings: AuthSettings) -> None:
    response.delete_cookie(settings.session_cookie, path="/", secure=settings.cookie_secure, httponly=True)
