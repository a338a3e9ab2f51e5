"""The kit's own tables, which live in every service's schema: outbox, inbox and idempotency keys.

They are built per schema (a service's tables are always schema-qualified). Their DDL is frozen in
``servicekit.migrations.kit_v1``; a change to them is a new ``kit_vN`` step that services adopt in a
migration of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Insert,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID


@dataclass(frozen=True)
class KitTables:
    schema: str
    metadata: MetaData
    outbox: Table
    inbox: Table
    idempotency_keys: Table

    @cached_property
    def outbox_insert(self) -> Insert:
        """The outbox's INSERT, built once (a unit of work commits it with its events as parameters)."""
        return insert(self.outbox)

    @property
    def notify_channel(self) -> str:
        """The LISTEN/NOTIFY channel an insert into this schema's outbox wakes."""
        return f"{self.schema}_outbox"


@cache
def kit_tables(schema: str) -> KitTables:
    metadata = MetaData(schema=schema)
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("routing_key", Text, nullable=False),
        Column("body", JSONB, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text),
        Index("outbox_pending_idx", "id", postgresql_where=text("published_at IS NULL")),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("event_id", UUID(as_uuid=True), nullable=False),
        Column("handler", Text, nullable=False),
        Column("event_type", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("event_id", "handler"),
    )
    idempotency_keys = Table(
        "idempotency_keys",
        metadata,
        Column("scope", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("fingerprint", Text, nullable=False),
        Column("status_code", Integer),
        Column("response", JSONB),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("scope", "key"),
    )
    return KitTables(schema, metadata, outbox, inbox, idempotency_keys)
