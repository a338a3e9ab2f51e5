"""The settings every service shares; each service subclasses it with its own env prefix and defaults.

Nothing is read at import time: a service builds its settings inside ``create_app()`` or its worker.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Common knobs. A subclass sets ``model_config = SettingsConfigDict(env_prefix="AUTH_")``, defaults."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: str
    """Also the CloudEvents ``source`` and the first part of every routing key the service publishes."""
    db_schema: str
    database_url: str
    """SQLAlchemy URL with the asyncpg driver, logging in as the service's own role."""
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/gorod"
    http_port: int = 8000

    # Tokens: every service validates them itself (ARCHITECTURE §5).
    jwt_issuer: str = "http://127.0.0.1:8000"
    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwt_audience: str = ""
    """Defaults to ``service_name`` when empty."""

    # Events.
    outbox_batch_size: int = Field(default=200, ge=1, le=5000)
    outbox_poll_interval: float = Field(default=1.0, gt=0)
    consumer_prefetch: int = Field(default=128, ge=1, le=1000)
    """Unacknowledged messages per queue, and so the largest group one commit takes. It must cover the events
    that arrive while a group commits, or they wait in the broker (measured in ``bench/events.py``)."""
    consumer_retry_delays: tuple[float, ...] = (1.0, 10.0, 60.0, 300.0)
    """Back-off before each retry of a failing handler; after the last one the message goes to the DLQ."""
    queue_delivery_limit: int = Field(default=10, ge=1)
    """Quorum-queue redeliveries (crashes, lost connections) before the broker dead-letters a message."""

    log_level: str = "INFO"
    log_json: bool = True

    @property
    def audience(self) -> str:
        return self.jwt_audience or self.service_name
