"""The analytics service's own tables. The kit's outbox, inbox and idempotency keys live beside them."""

from sqlalchemy import MetaData

SCHEMA = "analytics"
metadata = MetaData(schema=SCHEMA)
