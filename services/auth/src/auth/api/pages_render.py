"""Rendering of the server-rendered pages (sign-in, registration, consent…): Russian, phone-first, no
JavaScript, and never framed by another site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from auth.api.csrf import CSRF_FIELD, csrf_token, set_csrf_cookie
from auth.api.deps import auth_settings

templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")

SECURITY_HEADERS = {
    # Sign-in and consent pages must never be framed (clickjacking): the widget opens them in a popup.
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self' https: http:",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    token = csrf_token(request)
    response = templates.TemplateResponse(
        request, template, {"csrf_field": CSRF_FIELD, "csrf_token": token, **(context or {})}, status_code=status
    )
    set_csrf_cookie(response, token, secure=auth_settings(request).cookie_secure)
    response.headers.update(SECURITY_HEADERS)
    return response
