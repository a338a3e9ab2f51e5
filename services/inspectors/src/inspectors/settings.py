"""Settings of the inspectors service, from ``INSPECTORS_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class InspectorsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INSPECTORS_", extra="ignore", frozen=True)

    service_name: str = "inspectors"
    db_schema: str = "inspectors"
    database_url: str = "postgresql+asyncpg://gorod_inspectors:gorod_inspectors@127.0.0.1:5432/gorod"
    http_port: int = 8004
