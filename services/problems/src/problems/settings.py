"""Settings of the problems service, from ``PROBLEMS_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class ProblemsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROBLEMS_", extra="ignore", frozen=True)

    service_name: str = "problems"
    db_schema: str = "problems"
    database_url: str = "postgresql+asyncpg://gorod_problems:gorod_problems@127.0.0.1:5432/gorod"
    http_port: int = 8002
