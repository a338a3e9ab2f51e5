"""The e-mail channel's own tables (migration 0003), on the routing schema's metadata.

``mail_inbound``: every message that came back (reply, bounce, auto-reply, or one we could not match), once
each (by its Message-ID, else the SHA-256 of its bytes), with what became of it; ``mail_bounces``: the bounces
shown to operators.
The sending side uses ``deliveries`` and ``appeals.reply_token`` of ``routing.db.tables``.
No citizen's personal data here: the senders are authorities' mail servers, and the text of an answer goes to
the answer itself.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import UUID

from routing.db.tables import metadata

INBOUND_OUTCOMES = ("answered", "bounce", "delay", "ignored", "unmatched", "rejected")

mail_inbound = Table(
    "mail_inbound",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "digest",
        LargeBinary,
        nullable=False,
        comment="SHA-256 of the Message-ID (else of the bytes): the same message once.",
    ),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("via", Text, nullable=False, comment="smtp or http."),
    Column("kind", Text, nullable=False, comment="reply, bounce, delay, auto_reply, delivery_report."),
    Column("outcome", Text, nullable=False),
    Column("detail", Text),
    Column("appeal_id", UUID(as_uuid=True), ForeignKey("routing.appeals.id", ondelete="SET NULL")),
    Column("answer_id", UUID(as_uuid=True)),
    Column("message_id", Text),
    Column("sender", Text, comment="The From address (an authority's or a mail server's)."),
    Column("subject", Text),
    Column("size", Integer, nullable=False),
    CheckConstraint(
        "outcome IN (" + ", ".join(f"'{o}'" for o in INBOUND_OUTCOMES) + ")", name="mail_inbound_outcome_check"
    ),
    Index("mail_inbound_digest_key", "digest", unique=True),
    Index("mail_inbound_appeal_idx", "appeal_id"),
)

mail_bounces = Table(
    "mail_bounces",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("appeal_id", UUID(as_uuid=True), ForeignKey("routing.appeals.id", ondelete="CASCADE"), nullable=False),
    Column("inbound_id", UUID(as_uuid=True), ForeignKey("routing.mail_inbound.id", ondelete="CASCADE")),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("permanent", Boolean, nullable=False),
    Column("standard", Boolean, nullable=False, comment="An RFC 3464 report (else a recognised non-standard one)."),
    Column("status", Text, comment="Enhanced status code, e.g. 5.1.1."),
    Column("recipient", Text, comment="The authority's address that failed."),
    Column("diagnostic", Text),
    Index("mail_bounces_received_idx", "received_at", "id"),
    Index("mail_bounces_appeal_idx", "appeal_id"),
)
