"""HTTP routers of the auth service: OAuth/OIDC endpoints, sign-in pages, federation, the user's own
account API, and the operators' admin API."""

from fastapi import APIRouter

from auth.api import account, admin_clients, admin_roles, federation, oauth, origins, pages

routers: list[APIRouter] = [
    oauth.router,
    pages.router,
    federation.router,
    account.router,
    admin_roles.router,
    admin_clients.router,
    origins.router,
]
