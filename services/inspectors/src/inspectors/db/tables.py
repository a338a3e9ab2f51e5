"""The inspectors service's own tables. The kit's outbox, inbox and idempotency keys live beside them."""

from sqlalchemy import MetaData

SCHEMA = "inspectors"
metadata = MetaData(schema=SCHEMA)
