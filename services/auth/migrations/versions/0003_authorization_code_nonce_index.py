"""index the nonce of authorization codes (replay check)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 18:26:47.447222
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "authorization_codes_client_nonce_idx",
        "authorization_codes",
        ["client_id", "nonce"],
        unique=False,
        schema="auth",
        postgresql_where=sa.text("nonce IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "authorization_codes_client_nonce_idx",
        table_name="authorization_codes",
        schema="auth",
        postgresql_where=sa.text("nonce IS NOT NULL"),
    )
