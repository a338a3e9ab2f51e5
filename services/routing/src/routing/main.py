"""The routing service's composition root: ``uvicorn routing.main:create_app --factory``."""

from fastapi import FastAPI

from routing.api import routers
from routing.settings import RoutingSettings
from servicekit.app import create_service_app


def create_app(settings: RoutingSettings | None = None) -> FastAPI:
    settings = settings or RoutingSettings()
    return create_service_app(
        settings,
        title="Gorod routing",
        description=(
            "Territories, authorities and jurisdictions; official appeals and their 59-FZ "
            "deadlines; the officials' cabinet."
        ),
        routers=routers,
    )
