"""The problems service's composition root: ``uvicorn problems.main:create_app --factory``."""

from fastapi import FastAPI

from problems.api import routers
from problems.settings import ProblemsSettings
from servicekit.app import create_service_app


def create_app(settings: ProblemsSettings | None = None) -> FastAPI:
    settings = settings or ProblemsSettings()
    return create_service_app(
        settings,
        title="Gorod problems",
        description=(
            "The city problem map: reports with photos and place, supports, comments, subscriptions, moderation."
        ),
        routers=routers,
    )
