"""The budgeting service's composition root: ``uvicorn budgeting.main:create_app --factory``."""

from fastapi import FastAPI

from budgeting.api import routers
from budgeting.settings import BudgetingSettings
from servicekit.app import create_service_app


def create_app(settings: BudgetingSettings | None = None) -> FastAPI:
    settings = settings or BudgetingSettings()
    return create_service_app(
        settings,
        title="Gorod budgeting",
        description=("Initiative (participatory) budgeting: campaigns, projects, signatures, voting and results."),
        routers=routers,
    )
