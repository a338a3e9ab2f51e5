"""Settings of the e-mail channel, from ``ROUTING_MAIL_*`` environment variables (nothing read at import time)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class MailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTING_MAIL_", extra="ignore", frozen=True)

    # Outbound SMTP (the relay the platform sends through).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout: float = Field(default=15.0, gt=0)
    retry_delays: tuple[float, ...] = (0.5, 2.0)
    """Pauses between the in-process attempts of one sending (transient failures only)."""
    redelivery_delays: tuple[float, ...] = (60.0, 300.0, 1800.0, 7200.0, 21600.0)
    """Pauses before the worker tries a failed sending again; after the last one the delivery has failed."""

    # Who the appeal comes from, and where the answers go.
    from_address: str = "obrashcheniya@gorod.example"
    from_name: str = "Платформа «Город»"
    reply_local_part: str = "appeal"
    """Replies go to ``<reply_local_part>+<token>@<reply_domain>`` (plus addressing)."""
    reply_domain: str = ""
    """Defaults to the domain of ``from_address``."""
    public_base_url: str = "http://127.0.0.1:8000"

    # Inbound: the SMTP receiver and the raw-message endpoint.
    inbound_host: str = "127.0.0.1"
    inbound_port: int = 2525
    inbound_secret: SecretStr | None = None
    """Shared secret a mail provider's webhook sends in ``X-Gorod-Mail-Secret`` (operators may call without it)."""
    max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    @property
    def domain(self) -> str:
        return (self.reply_domain or self.from_address.rsplit("@", 1)[-1]).strip().lower()
