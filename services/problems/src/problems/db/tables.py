"""The problems service's own tables. The kit's outbox, inbox and idempotency keys live beside them."""

from sqlalchemy import MetaData

SCHEMA = "problems"
metadata = MetaData(schema=SCHEMA)
