"""The inspectors service's composition root: ``uvicorn inspectors.main:create_app --factory``."""

from fastapi import FastAPI

from inspectors.api import routers
from inspectors.settings import InspectorsSettings
from servicekit.app import create_service_app


def create_app(settings: InspectorsSettings | None = None) -> FastAPI:
    settings = settings or InspectorsSettings()
    return create_service_app(
        settings,
        title="Gorod inspectors",
        description=("The registry of public inspectors, public chambers, oversight events and invitations."),
        routers=routers,
    )
