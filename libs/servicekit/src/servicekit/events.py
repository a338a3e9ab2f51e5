"""The CloudEvents 1.0 envelope every integration event travels in (structured JSON mode)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TYPE_PREFIX = "ru.gorod."
CONTENT_TYPE = "application/cloudevents+json"
_ROUTING_KEY = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[1-9][0-9]*$")


class CloudEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID
    source: str = Field(min_length=1)
    type: str
    time: datetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]

    @field_validator("type")
    @classmethod
    def _type_is_ours(cls, value: str) -> str:
        if not value.startswith(TYPE_PREFIX) or not _ROUTING_KEY.match(value[len(TYPE_PREFIX) :]):
            raise ValueError(f"event type must look like {TYPE_PREFIX}<service>.<entity>.<verb>.v<N>")
        return value

    @property
    def routing_key(self) -> str:
        """``<service>.<entity>.<verb>.v<N>``: the topic-exchange key (ARCHITECTURE §3)."""
        return self.type[len(TYPE_PREFIX) :]

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()


def new_event(routing_key: str, data: dict[str, Any], *, source: str, subject: str | None = None) -> CloudEvent:
    """A fresh event; ``routing_key`` is ``<service>.<entity>.<verb>.v<N>`` and must start with ``source``."""
    if not _ROUTING_KEY.match(routing_key):
        raise ValueError(f"bad routing key {routing_key!r}: want <service>.<entity>.<verb>.v<N>")
    if routing_key.split(".", 1)[0] != source:
        raise ValueError(f"service {source!r} cannot publish {routing_key!r}: events are named by their owner")
    return CloudEvent(
        id=uuid.uuid4(),
        source=source,
        type=TYPE_PREFIX + routing_key,
        time=datetime.now(UTC),
        subject=subject,
        data=data,
    )
