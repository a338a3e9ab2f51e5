"""The routing service's own tables. The kit's outbox, inbox and idempotency keys live beside them."""

from sqlalchemy import MetaData

SCHEMA = "routing"
metadata = MetaData(schema=SCHEMA)
