"""Settings of the routing service, from ``ROUTING_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore", frozen=True)

    service_name: str = "routing"
    db_schema: str = "routing"
    database_url: str = "postgresql+asyncpg://gorod_routing:gorod_routing@127.0.0.1:5432/gorod"
    http_port: int = 8003
    timer_interval: float = 60.0
    """Seconds between two passes of the deadline timer (and the other periodic jobs of the worker)."""
    invitation_days: int = 14
    """How long an official's invitation stays valid."""
