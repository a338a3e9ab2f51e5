"""Gateway settings, from ``GATEWAY_*`` environment variables: where each service answers, and the edge's limits."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("auth", "problems", "routing", "inspectors", "budgeting", "initiatives", "analytics")
"""Every service behind the gateway; each has a ``<name>_url`` setting."""


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    http_port: int = 8000
    auth_url: str = "http://127.0.0.1:8001"
    problems_url: str = "http://127.0.0.1:8002"
    routing_url: str = "http://127.0.0.1:8003"
    inspectors_url: str = "http://127.0.0.1:8004"
    budgeting_url: str = "http://127.0.0.1:8005"
    initiatives_url: str = "http://127.0.0.1:8006"
    analytics_url: str = "http://127.0.0.1:8007"
    health_timeout: float = 2.0
    log_level: str = "INFO"
    log_json: bool = True

    # Tokens: the same names and meaning as servicekit.settings.ServiceSettings.
    jwt_issuer: str = "http://127.0.0.1:8000"
    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"

    # Upstream calls: one shared client; a service that does not answer in time gives 503/504 quickly.
    connect_timeout: float = Field(default=1.0, gt=0)
    upstream_timeout: float = Field(default=15.0, gt=0)
    """Seconds to wait for an upstream's response (and between two chunks of it) before answering 504."""
    max_connections: int = Field(default=512, ge=1)
    max_keepalive_connections: int = Field(default=128, ge=1)

    # Body size limits (413).
    max_body_bytes: int = Field(default=1024 * 1024, ge=0)
    max_upload_bytes: int = Field(default=12 * 1024 * 1024, ge=0)
    """For ``multipart/form-data`` bodies (photos)."""

    # Rate limits: requests per ``rate_window`` seconds; per client IP and per signed-in user or client.
    rate_limit_enabled: bool = True
    redis_url: str = ""
    """Counters shared by every gateway replica and worker process when set (``redis://127.0.0.1:6379/0``); in memory
    otherwise, where each process counts on its own (the Procfile and the image run two)."""
    redis_prefix: str = "gorod:gateway:rl:"
    rate_window: float = Field(default=60.0, gt=0)
    ip_read_limit: int = Field(default=1200, ge=1)
    ip_write_limit: int = Field(default=120, ge=1)
    ip_signin_limit: int = Field(default=20, ge=1)
    principal_read_limit: int = Field(default=2400, ge=1)
    principal_write_limit: int = Field(default=240, ge=1)

    # CORS: the web origins registered for clients in auth, refreshed without a restart.
    cors_refresh_interval: float = Field(default=30.0, gt=0)
    cors_max_age: int = Field(default=600, ge=0)

    # Audit of admin calls: JSON lines in this file (and the structured log); no file when empty.
    audit_log_path: str = ""

    # Open311 GeoReport v2: partner keys (api_key → OAuth client id) and those clients' secrets, used to get a
    # client-credentials token from auth for the partner.
    open311_keys: dict[str, str] = {"demo-open311-key": "demo-partner"}
    open311_client_secrets: dict[str, str] = {"demo-partner": "demo-partner-secret"}
    open311_default_map: str = "city"

    def service_urls(self) -> dict[str, str]:
        """Each service's base URL by its name."""
        return {name: getattr(self, f"{name}_url") for name in SERVICES}
