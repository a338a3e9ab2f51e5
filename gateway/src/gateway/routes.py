"""The route table: which service owns a path. Data, not code; the longest matching prefix wins.

A prefix matches a path equal to it or continuing it after a ``/`` (``/api/v1/problems`` matches
``/api/v1/problems`` and ``/api/v1/problems/42``, never ``/api/v1/problemsX``).

``audience`` is the ``aud`` a bearer token must carry for the gateway to let it through to that route: the
owning service's name. ``None`` means the gateway does not judge bearer tokens there: the OAuth endpoints and
sign-in pages of auth, which is the issuer and checks its own credentials.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from gateway.settings import SERVICES


@dataclass(frozen=True)
class Route:
    prefix: str
    service: str
    audience: str | None
    admin: bool = False
    """``/admin/v1/*``: the operator role is required and every call is audited."""
    signin: bool = False
    """Sign-in and account recovery: the stricter rate limit applies to writes."""


def _auth_routes() -> list[Route]:
    issuer_owned = ["/oauth2", "/.well-known", "/static", "/signout", "/profile", "/confirm-email"]
    signin = ["/signin", "/register", "/password"]
    routes = [Route(prefix, "auth", None) for prefix in issuer_owned]
    routes += [Route(prefix, "auth", None, signin=True) for prefix in signin]
    routes.append(Route("/oauth2/token", "auth", None, signin=True))
    routes += [Route("/api/v1/me", "auth", "auth"), Route("/api/v1/auth", "auth", "auth")]
    routes += [Route(f"/admin/v1/{name}", "auth", "auth", admin=True) for name in ("audit", "clients", "users")]
    return routes


def default_routes() -> list[Route]:
    routes = _auth_routes()
    for service in SERVICES:
        routes.append(Route(f"/api/v1/{service}", service, service))
        routes.append(Route(f"/admin/v1/{service}", service, service, admin=True))
    routes += [Route(f"/api/v1/{name}", "routing", "routing") for name in ("territories", "cabinet", "authorities")]
    routes += [Route(f"/admin/v1/{name}", "routing", "routing", admin=True) for name in ("territories", "authorities")]
    return routes


class RouteTable:
    """Longest-prefix lookup over a list of routes."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes: dict[str, Route] = {}
        for route in routes:
            if not route.prefix.startswith("/") or (route.prefix != "/" and route.prefix.endswith("/")):
                raise ValueError(f"bad route prefix {route.prefix!r}")
            self._routes[route.prefix] = route
        self._lengths = sorted({len(prefix) for prefix in self._routes}, reverse=True)

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes.values())

    def match(self, path: str) -> Route | None:
        for length in self._lengths:
            if len(path) < length:
                continue
            candidate = path[:length]
            route = self._routes.get(candidate)
            if route is not None and (len(path) == length or path[length] == "/"):
                return route
        return None
