"""The initiatives service's composition root: ``uvicorn initiatives.main:create_app --factory``."""

from fastapi import FastAPI

from initiatives.api import routers
from initiatives.settings import InitiativesSettings
from servicekit.app import create_service_app


def create_app(settings: InitiativesSettings | None = None) -> FastAPI:
    settings = settings or InitiativesSettings()
    return create_service_app(
        settings,
        title="Gorod initiatives",
        description=("Civic initiatives («вМесте»): goals, tasks, participants and updates."),
        routers=routers,
    )
