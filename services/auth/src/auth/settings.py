"""Settings of the auth service, from ``AUTH_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class AuthSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore", frozen=True)

    service_name: str = "auth"
    db_schema: str = "auth"
    database_url: str = "postgresql+asyncpg://gorod_auth:gorod_auth@127.0.0.1:5432/gorod"
    http_port: int = 8001
