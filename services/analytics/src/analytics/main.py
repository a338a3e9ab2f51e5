"""The analytics service's composition root: ``uvicorn analytics.main:create_app --factory``."""

from fastapi import FastAPI

from analytics.api import routers
from analytics.settings import AnalyticsSettings
from servicekit.app import create_service_app


def create_app(settings: AnalyticsSettings | None = None) -> FastAPI:
    settings = settings or AnalyticsSettings()
    return create_service_app(
        settings,
        title="Gorod analytics",
        description=("Read models built from events: territory dashboards, the overdue report, the people's rating."),
        routers=routers,
    )
