"""The auth service's composition root: ``uvicorn auth.main:create_app --factory``."""

from fastapi import FastAPI

from auth.api import routers
from auth.settings import AuthSettings
from servicekit.app import create_service_app


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()
    return create_service_app(
        settings,
        title="Gorod auth",
        description=(
            "Accounts, roles, consents (152-FZ), and the OAuth 2.0 / OpenID Connect provider federated with DOBRO.RU."
        ),
        routers=routers,
    )
