"""Gateway settings, from ``GATEWAY_*`` environment variables: where each service answers."""

from pydantic_settings import BaseSettings, SettingsConfigDict


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

    def service_urls(self) -> dict[str, str]:
        """Each service's base URL by its name: every ``<name>_url`` field."""
        return {
            name.removesuffix("_url"): getattr(self, name) for name in type(self).model_fields if name.endswith("_url")
        }
