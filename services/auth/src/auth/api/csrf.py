"""CSRF protection for the server-rendered forms: the double-submit pattern.

A random token lives in a SameSite=Lax cookie and in a hidden field of every form; a POST whose field does
not match its cookie is refused. Another site can make a browser send the cookie, but cannot read it to
fill the field.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, Response

from auth.domain.secrets import new_token

CSRF_COOKIE = "gorod_csrf"
CSRF_FIELD = "csrf_token"


def csrf_token(request: Request) -> str:
    """The token to put in a form (the cookie's, or a new one that :func:`set_csrf_cookie` will store)."""
    existing = request.cookies.get(CSRF_COOKIE)
    return existing if existing and 16 <= len(existing) <= 64 else new_token(24)


def set_csrf_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(CSRF_COOKIE, token, httponly=True, secure=secure, samesite="lax", path="/")


def check_csrf(request: Request, submitted: str | None) -> None:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted or not hmac.compare_digest(cookie, submitted):
        raise HTTPException(
            status_code=403,
            detail="Форма устарела или отправлена не с нашего сайта. Обновите страницу и попробуйте ещё раз.",
        )
