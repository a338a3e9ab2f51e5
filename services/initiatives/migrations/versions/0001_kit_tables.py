"""The initiatives schema's kit tables: outbox, inbox, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from servicekit.migrations import kit_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    kit_v1.upgrade("initiatives")


def downgrade() -> None:
    kit_v1.downgrade("initiatives")
