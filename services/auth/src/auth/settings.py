"""Settings of the auth service, from ``AUTH_*`` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

DEFAULT_AUDIENCES = ("gateway", "auth", "problems", "routing", "inspectors", "budgeting", "initiatives", "analytics")


class AuthSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore", frozen=True)

    service_name: str = "auth"
    db_schema: str = "auth"
    database_url: str = "postgresql+asyncpg://gorod_auth:gorod_auth@127.0.0.1:5432/gorod"
    http_port: int = 8001

    # The issuer is ``jwt_issuer`` (the platform's public base URL, the gateway's), shared with the verifiers.
    access_token_ttl: int = Field(default=600, ge=60, le=3600, description="Seconds; short-lived (RFC 9068).")
    id_token_ttl: int = Field(default=600, ge=60, le=3600)
    refresh_token_ttl: int = Field(default=30 * 24 * 3600, ge=3600)
    authorization_code_ttl: int = Field(default=60, ge=10, le=600)
    session_ttl: int = Field(default=14 * 24 * 3600, ge=600)
    session_cookie: str = "gorod_session"
    signing_key_rotation_days: int = Field(default=30, ge=1)
    default_audiences: tuple[str, ...] = DEFAULT_AUDIENCES

    # E-mail (confirmation links, password resets).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout: float = 10.0
    mail_from: str = "Город <no-reply@gorod.local>"

    @property
    def cookie_secure(self) -> bool:
        """Secure cookies wherever the public URL is HTTPS."""
        return self.jwt_issuer.startswith("https://")
