"""The e-mail channel's tables: inbound messages and bounces (hand-written).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "routing"


def upgrade() -> None:
    op.create_table(
        "mail_inbound",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "digest",
            sa.LargeBinary(),
            nullable=False,
            comment="SHA-256 of the Message-ID (else of the bytes): the same message once.",
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("via", sa.Text(), nullable=False, comment="smtp or http."),
        sa.Column("kind", sa.Text(), nullable=False, comment="reply, bounce, delay, auto_reply, delivery_report."),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.Column(
            "appeal_id", postgresql.UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.appeals.id", ondelete="SET NULL")
        ),
        sa.Column("answer_id", postgresql.UUID(as_uuid=True)),
        sa.Column("message_id", sa.Text()),
        sa.Column("sender", sa.Text(), comment="The From address (an authority's or a mail server's)."),
        sa.Column("subject", sa.Text()),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('answered', 'bounce', 'delay', 'ignored', 'unmatched', 'rejected')",
            name="mail_inbound_outcome_check",
        ),
        schema=SCHEMA,
    )
    op.create_index("mail_inbound_digest_key", "mail_inbound", ["digest"], unique=True, schema=SCHEMA)
    op.create_index("mail_inbound_appeal_idx", "mail_inbound", ["appeal_id"], schema=SCHEMA)
    op.create_table(
        "mail_bounces",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "appeal_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.appeals.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "inbound_id", postgresql.UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.mail_inbound.id", ondelete="CASCADE")
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column(
            "standard", sa.Boolean(), nullable=False, comment="An RFC 3464 report (else a recognised non-standard one)."
        ),
        sa.Column("status", sa.Text(), comment="Enhanced status code, e.g. 5.1.1."),
        sa.Column("recipient", sa.Text(), comment="The authority's address that failed."),
        sa.Column("diagnostic", sa.Text()),
        schema=SCHEMA,
    )
    op.create_index("mail_bounces_received_idx", "mail_bounces", ["received_at", "id"], schema=SCHEMA)
    op.create_index("mail_bounces_appeal_idx", "mail_bounces", ["appeal_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("mail_bounces", schema=SCHEMA)
    op.drop_table("mail_inbound", schema=SCHEMA)
