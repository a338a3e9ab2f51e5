"""Settings of the analytics service, from ``ANALYTICS_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore", frozen=True)

    service_name: str = "analytics"
    db_schema: str = "analytics"
    database_url: str = "postgresql+asyncpg://gorod_analytics:gorod_analytics@127.0.0.1:5432/gorod"
    http_port: int = 8007
    projector_poll_interval: float = 0.25
    """Seconds between the projector's polls of the archive when it is idle (freshness ≤ 2 s)."""
