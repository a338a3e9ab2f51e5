"""Settings of the problems service, from ``PROBLEMS_*`` environment variables."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class ProblemsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROBLEMS_", extra="ignore", frozen=True)

    service_name: str = "problems"
    db_schema: str = "problems"
    database_url: str = "postgresql+asyncpg://gorod_problems:gorod_problems@127.0.0.1:5432/gorod"
    http_port: int = 8002

    public_base_url: str = "http://127.0.0.1:8000"
    """Where the gateway serves ``/api/v1/problems``: photo URLs and public links are built on it."""

    # Photos.
    photo_storage: Literal["fs", "s3"] = "fs"
    photo_dir: Path = Path(".data/problems/photos")
    s3_endpoint_url: str | None = None
    s3_bucket: str = "gorod-problem-photos"
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    photo_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    photo_max_side: int = Field(default=2560, ge=200)
    thumbnail_side: int = Field(default=400, ge=50)
    photo_orphan_hours: float = Field(default=24.0, gt=0)
    s3_create_bucket: bool = False
    """Create the bucket at start-up if missing (local stacks, tests)."""

    catalog_cache_seconds: float = Field(default=5.0, ge=0)
    """How long a process serves a map or category from memory when taking reports (0: always ask the database).
    Edits through the API are seen at once by the process that made them, by other processes within this time."""

    map_cells_fold_interval: float = Field(default=2.0, gt=0)
    """Seconds between the worker's folds of the map's cluster-cell deltas into ``map_cells``."""

    confirm_days: int = Field(default=15, ge=1)
    """Days the author has after an answer to confirm or dispute it (then it closes on its own)."""

    # E-mail to subscribers (usecases/notifications.py).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout: float = 10.0
    mail_from: str = "Город <noreply@gorod.local>"
    notify_interval: float = 2.0
    """Seconds between passes of the e-mail sender."""
