"""The problems service's composition root: ``uvicorn problems.main:create_app --factory``."""

from fastapi import FastAPI

from problems.api import routers
from problems.settings import ProblemsSettings
from problems.storage import S3Storage, create_storage
from servicekit.app import ServiceContext, create_service_app


def create_app(settings: ProblemsSettings | None = None) -> FastAPI:
    settings = settings or ProblemsSettings()

    async def on_startup(app: FastAPI, kit: ServiceContext) -> None:
        storage = create_storage(settings)
        if isinstance(storage, S3Storage) and settings.s3_create_bucket:
            await storage.ensure_bucket()
        app.state.photo_storage = storage
        app.state.read_engine = kit.engine.execution_options(isolation_level="AUTOCOMMIT")

    return create_service_app(
        settings,
        title="Gorod problems",
        description=(
            "The city problem map: reports with photos and place, supports, comments, subscriptions, moderation."
        ),
        routers=routers,
        on_startup=on_startup,
    )
