"""Settings of the initiatives service, from ``INITIATIVES_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class InitiativesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INITIATIVES_", extra="ignore", frozen=True)

    service_name: str = "initiatives"
    db_schema: str = "initiatives"
    database_url: str = "postgresql+asyncpg://gorod_initiatives:gorod_initiatives@127.0.0.1:5432/gorod"
    http_port: int = 8006
