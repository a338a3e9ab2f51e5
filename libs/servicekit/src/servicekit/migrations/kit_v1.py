"""Frozen DDL of the kit tables, version 1. Never edit: add ``kit_v2`` instead.

Called from a service's first migration: ``kit_v1.upgrade("routing")``.
"""

from __future__ import annotations

from alembic import op

from servicekit.tables import kit_tables


def upgrade(schema: str) -> None:
    tables = kit_tables(schema)
    bind = op.get_bind()
    for table in (tables.outbox, tables.inbox, tables.idempotency_keys):
        table.create(bind)
    for statement in notify_trigger_statements(schema):
        op.execute(statement)


def notify_trigger_statements(schema: str) -> list[str]:
    """An insert into the outbox wakes the relay at commit (LISTEN/NOTIFY); polling is the fallback."""
    channel = kit_tables(schema).notify_channel
    return [
        f"""
        CREATE FUNCTION "{schema}".outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{channel}', '');
            RETURN NULL;
        END $$
        """,
        f'CREATE TRIGGER outbox_notify AFTER INSERT ON "{schema}".outbox '
        f'FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".outbox_notify()',
    ]


def downgrade(schema: str) -> None:
    op.execute(f'DROP TRIGGER IF EXISTS outbox_notify ON "{schema}".outbox')
    op.execute(f'DROP FUNCTION IF EXISTS "{schema}".outbox_notify()')
    tables = kit_tables(schema)
    bind = op.get_bind()
    for table in (tables.idempotency_keys, tables.inbox, tables.outbox):
        table.drop(bind)
