"""HTTP routers of the routing service: public, cabinet and admin apart."""

from fastapi import APIRouter

from routing.api import admin, cabinet, public

routers: list[APIRouter] = [public.router, cabinet.router, admin.router]

try:  # the e-mail channel's endpoints (its own module), when present
    from routing.api import inbound_mail
except ImportError:  # pragma: no cover
    pass
else:
    routers.append(inbound_mail.router)
