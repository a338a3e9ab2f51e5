"""The auth service's composition root: ``uvicorn auth.main:create_app --factory``."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from auth.api import routers
from auth.settings import AuthSettings
from auth.usecases.keys import KeyRing
from servicekit.app import ServiceContext, create_service_app


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()

    async def on_startup(app: FastAPI, kit: ServiceContext) -> None:
        app.state.keys = KeyRing(
            kit.session_factory,
            rotation_days=settings.signing_key_rotation_days,
            longest_token_ttl=max(settings.access_token_ttl, settings.id_token_ttl),
        )

    app = create_service_app(
        settings,
        title="Gorod auth",
        description=(
            "Accounts, roles, consents (152-FZ), and the OAuth 2.0 / OpenID Connect provider federated with DOBRO.RU."
        ),
        routers=routers,
        on_startup=on_startup,
    )
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    return app
