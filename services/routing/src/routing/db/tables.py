"""The routing service's own tables. The kit's outbox, inbox and idempotency keys live beside them.

Personal data (the applicant's name, e-mail and postal address) is kept only in ``appeal_applicants``,
one row per appeal, so that it can be erased on ``auth.user.erased.v1`` without touching the appeal.
"""

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

SCHEMA = "routing"
metadata = MetaData(schema=SCHEMA)

_now = func.now()


def _created() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now)


def _updated() -> Column[object]:
    return Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now)


TERRITORY_LEVELS = ("region", "municipal_district", "city_district", "urban_okrug", "settlement")
AUTHORITY_KINDS = ("administration", "department", "supervisory")
CHANNELS = ("cabinet", "email", "cabinet_and_email")
APPEAL_STATUSES = ("sent", "registered", "in_work", "answered", "forwarded")
OUTCOMES = ("solved", "planned", "refused")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


territories = Table(
    "territories",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("parent_id", UUID(as_uuid=True), ForeignKey("routing.territories.id", ondelete="RESTRICT")),
    Column("oktmo", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("timezone", Text, nullable=False, server_default="Europe/Moscow", comment="IANA time zone."),
    Column("depth", Integer, nullable=False, server_default="0", comment="0 for a root; parent's depth + 1."),
    Column(
        "boundary",
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
        comment="WGS84; valid (ST_MakeValid on import). Null when not imported yet.",
    ),
    _created(),
    _updated(),
    CheckConstraint(_in("level", TERRITORY_LEVELS), name="territories_level_check"),
    Index("territories_oktmo_key", "oktmo", unique=True),
    Index("territories_parent_idx", "parent_id"),
    Index("territories_boundary_gist", "boundary", postgresql_using="gist"),
)

authorities = Table(
    "authorities",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("parent_id", UUID(as_uuid=True), ForeignKey("routing.authorities.id", ondelete="RESTRICT")),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column(
        "territory_id",
        UUID(as_uuid=True),
        ForeignKey("routing.territories.id", ondelete="RESTRICT"),
        comment="The territory an administration governs (it answers there when no rule matches).",
    ),
    Column("timezone", Text, nullable=False, server_default="Europe/Moscow"),
    Column("channel", Text, nullable=False, server_default="cabinet"),
    Column("email", Text, comment="The official address appeals are e-mailed to (channel email / both)."),
    Column("calendar_country", Text, nullable=False, server_default="RU", comment="`holidays` country code."),
    Column("calendar_subdiv", Text, comment="`holidays` subdivision, e.g. a republic with its own holidays."),
    Column("extra_holidays", ARRAY(Date), nullable=False, server_default="{}", comment="Local days off."),
    Column("extra_workdays", ARRAY(Date), nullable=False, server_default="{}", comment="Local working days."),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    _created(),
    _updated(),
    CheckConstraint(_in("kind", AUTHORITY_KINDS), name="authorities_kind_check"),
    CheckConstraint(_in("channel", CHANNELS), name="authorities_channel_check"),
    CheckConstraint("channel = 'cabinet' OR email IS NOT NULL", name="authorities_email_channel_needs_address_check"),
    Index("authorities_parent_idx", "parent_id"),
    Index(
        "authorities_administration_of_territory_key",
        "territory_id",
        unique=True,
        postgresql_where=text("kind = 'administration'"),
    ),
)

jurisdiction_rules = Table(
    "jurisdiction_rules",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "territory_id", UUID(as_uuid=True), ForeignKey("routing.territories.id", ondelete="CASCADE"), nullable=False
    ),
    Column("category_code", Text, nullable=False, comment="The problems service's stable category code."),
    Column(
        "authority_id", UUID(as_uuid=True), ForeignKey("routing.authorities.id", ondelete="CASCADE"), nullable=False
    ),
    Column("note", Text, comment="Why (shown to officials in the appeal's reason), e.g. a municipal act."),
    _created(),
    UniqueConstraint("territory_id", "category_code", name="jurisdiction_rules_territory_category_key"),
    Index("jurisdiction_rules_category_idx", "category_code"),
)

supervisors = Table(
    "supervisors",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "territory_id", UUID(as_uuid=True), ForeignKey("routing.territories.id", ondelete="CASCADE"), nullable=False
    ),
    Column("category_code", Text, nullable=False, comment="A category code, or '*' for every category."),
    Column(
        "supervisor_id", UUID(as_uuid=True), ForeignKey("routing.authorities.id", ondelete="CASCADE"), nullable=False
    ),
    _created(),
    UniqueConstraint("territory_id", "category_code", name="supervisors_territory_category_key"),
)

officials = Table(
    "officials",
    metadata,
    Column("user_id", UUID(as_uuid=True), nullable=False, comment="auth's user id (`sub`)."),
    Column(
        "authority_id", UUID(as_uuid=True), ForeignKey("routing.authorities.id", ondelete="CASCADE"), nullable=False
    ),
    Column("position", Text, nullable=False, server_default="", comment="Shown on answers; never a person's name."),
    Column("department_id", UUID(as_uuid=True), ForeignKey("routing.authorities.id", ondelete="SET NULL")),
    Column("invited_by", UUID(as_uuid=True)),
    _created(),
    PrimaryKeyConstraint("user_id", "authority_id"),
    Index("officials_authority_idx", "authority_id"),
)

official_invitations = Table(
    "official_invitations",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "authority_id", UUID(as_uuid=True), ForeignKey("routing.authorities.id", ondelete="CASCADE"), nullable=False
    ),
    Column("token_hash", Text, nullable=False, comment="sha256 of the token; the token itself is shown once."),
    Column("position", Text, nullable=False, server_default=""),
    Column("department_id", UUID(as_uuid=True), ForeignKey("routing.authorities.id", ondelete="SET NULL")),
    Column("invited_by", UUID(as_uuid=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("accepted_by", UUID(as_uuid=True)),
    Column("accepted_at", DateTime(timezone=True)),
    _created(),
    Index("official_invitations_token_key", "token_hash", unique=True),
    Index("official_invitations_authority_idx", "authority_id"),
)

problems = Table(
    "problems",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, comment="The problems service's problem id."),
    Column("category_id", UUID(as_uuid=True), nullable=False),
    Column("category_code", Text, nullable=False),
    Column("category_name", Text, nullable=False),
    Column("point", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    Column("address", Text, nullable=False, server_default=""),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("photos", JSONB, nullable=False, server_default="[]"),
    Column("public_url", Text),
    Column("author_id", UUID(as_uuid=True), comment="Kept to find the applicant's data on erasure."),
    Column("published_at", DateTime(timezone=True), nullable=False),
    _created(),
    Index("problems_author_idx", "author_id"),
)

appeals = Table(
    "appeals",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("problem_id", UUID(as_uuid=True), ForeignKey("routing.problems.id", ondelete="RESTRICT"), nullable=False),
    Column(
        "authority_id", UUID(as_uuid=True), ForeignKey("routing.authorities.id", ondelete="RESTRICT"), nullable=False
    ),
    Column("department_id", UUID(as_uuid=True), ForeignKey("routing.authorities.id", ondelete="SET NULL")),
    Column("assignee_user_id", UUID(as_uuid=True), comment="An official of the authority, or none."),
    Column("territory_id", UUID(as_uuid=True), ForeignKey("routing.territories.id", ondelete="SET NULL")),
    Column("category_id", UUID(as_uuid=True), nullable=False),
    Column("category_code", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="sent"),
    Column("channel", Text, nullable=False),
    Column("reason", Text, nullable=False, comment="Why this authority, in Russian, for officials."),
    Column("repeat_of", UUID(as_uuid=True), ForeignKey("routing.appeals.id", ondelete="SET NULL")),
    Column("forwarded_from", UUID(as_uuid=True), ForeignKey("routing.appeals.id", ondelete="SET NULL")),
    Column("forwarded_to", UUID(as_uuid=True), ForeignKey("routing.appeals.id", ondelete="SET NULL")),
    Column("registration_number", Text),
    Column("reply_token", Text, nullable=False, comment="Unguessable; the e-mail channel's reply address."),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("registration_due_at", DateTime(timezone=True), nullable=False),
    Column("registered_at", DateTime(timezone=True)),
    Column("forward_due_at", DateTime(timezone=True)),
    Column("answer_due_at", DateTime(timezone=True)),
    Column("extended_by_days", Integer),
    Column("extension_reason", Text),
    Column("answered_at", DateTime(timezone=True)),
    Column("overdue_at", DateTime(timezone=True)),
    Column("escalated_at", DateTime(timezone=True)),
    _created(),
    _updated(),
    CheckConstraint(_in("status", APPEAL_STATUSES), name="appeals_status_check"),
    CheckConstraint(_in("channel", CHANNELS), name="appeals_channel_check"),
    CheckConstraint("extended_by_days BETWEEN 1 AND 30", name="appeals_extension_check"),
    Index("appeals_reply_token_key", "reply_token", unique=True),
    Index("appeals_problem_idx", "problem_id"),
    Index("appeals_authority_queue_idx", "authority_id", "status", "registration_due_at", "id"),
    # The timer's scans touch only open appeals: partial indexes keep them small and fast.
    Index("appeals_registration_due_idx", "registration_due_at", postgresql_where=text("status = 'sent'")),
    Index("appeals_answer_due_idx", "answer_due_at", postgresql_where=text("status IN ('registered', 'in_work')")),
)

appeal_applicants = Table(
    "appeal_applicants",
    metadata,
    Column("appeal_id", UUID(as_uuid=True), ForeignKey("routing.appeals.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", UUID(as_uuid=True), comment="auth's user id, for erasure."),
    Column("full_name", Text),
    Column("email", Text),
    Column("postal_address", Text),
    Column("erased_at", DateTime(timezone=True)),
    Index("appeal_applicants_user_idx", "user_id"),
)

appeal_events = Table(
    "appeal_events",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("appeal_id", UUID(as_uuid=True), ForeignKey("routing.appeals.id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column(
        "kind",
        Text,
        nullable=False,
        comment="sent, delivered, delivery_failed, bounced, registered, assigned, answered, forwarded, extended, "
        "reminded, overdue, escalated, note …",
    ),
    Column("actor_user_id", UUID(as_uuid=True)),
    Column("data", JSONB, nullable=False, server_default="{}"),
    Index("appeal_events_appeal_idx", "appeal_id", "id"),
)

appeal_answers = Table(
    "appeal_answers",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("appeal_id", UUID(as_uuid=True), ForeignKey("routing.appeals.id", ondelete="CASCADE"), nullable=False),
    Column("text", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("planned_for", Date),
    Column("refusal_reason", Text),
    Column("answered_by", Text, comment="Position or department shown to the public."),
    Column("author_user_id", UUID(as_uuid=True)),
    Column("source", Text, nullable=False, server_default="cabinet", comment="cabinet or email."),
    Column("answered_at", DateTime(timezone=True), nullable=False),
    Column("on_time", Boolean, nullable=False),
    CheckConstraint(_in("outcome", OUTCOMES), name="appeal_answers_outcome_check"),
    CheckConstraint("outcome <> 'planned' OR planned_for IS NOT NULL", name="appeal_answers_planned_check"),
    CheckConstraint("outcome <> 'refused' OR refusal_reason IS NOT NULL", name="appeal_answers_refused_check"),
    Index("appeal_answers_appeal_key", "appeal_id", unique=True),
)

appeal_attachments = Table(
    "appeal_attachments",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("appeal_id", UUID(as_uuid=True), ForeignKey("routing.appeals.id", ondelete="CASCADE"), nullable=False),
    Column("answer_id", UUID(as_uuid=True), ForeignKey("routing.appeal_answers.id", ondelete="CASCADE")),
    Column("url", Text, comment="An external URL, or none for an uploaded file kept in `content`."),
    Column("filename", Text),
    Column("content_type", Text),
    Column("size", Integer),
    Column("content", LargeBinary),
    _created(),
    CheckConstraint("url IS NOT NULL OR content IS NOT NULL", name="appeal_attachments_source_check"),
    Index("appeal_attachments_appeal_idx", "appeal_id"),
)

appeal_notes = Table(
    "appeal_notes",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("appeal_id", UUID(as_uuid=True), ForeignKey("routing.appeals.id", ondelete="CASCADE"), nullable=False),
    Column("author_user_id", UUID(as_uuid=True), nullable=False),
    Column("text", Text, nullable=False),
    _created(),
    Index("appeal_notes_appeal_idx", "appeal_id", "created_at"),
)

response_templates = Table(
    "response_templates",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "authority_id", UUID(as_uuid=True), ForeignKey("routing.authorities.id", ondelete="CASCADE"), nullable=False
    ),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    _created(),
    _updated(),
    Index("response_templates_authority_idx", "authority_id", "id"),
)

appeal_deadline_marks = Table(
    "appeal_deadline_marks",
    metadata,
    Column("appeal_id", UUID(as_uuid=True), ForeignKey("routing.appeals.id", ondelete="CASCADE"), nullable=False),
    Column(
        "kind",
        Text,
        nullable=False,
        comment="reminder_registration, reminder_answer, overdue_registration, overdue_answer, escalated.",
    ),
    Column("due_at", DateTime(timezone=True), nullable=False, comment="The deadline this mark is for."),
    Column("at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("notified_at", DateTime(timezone=True), comment="Set when a notification (e-mail) went out."),
    PrimaryKeyConstraint("appeal_id", "kind", "due_at"),
    Index("appeal_deadline_marks_unnotified_idx", "at", postgresql_where=text("notified_at IS NULL")),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("appeal_id", UUID(as_uuid=True), ForeignKey("routing.appeals.id", ondelete="CASCADE"), nullable=False),
    Column("channel", Text, nullable=False, comment="cabinet or email."),
    Column("status", Text, nullable=False, server_default="pending", comment="pending, sent, failed, bounced."),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("last_error", Text),
    Column("external_id", Text, comment="e.g. the e-mail's Message-ID."),
    _created(),
    _updated(),
    CheckConstraint("status IN ('pending', 'sent', 'failed', 'bounced')", name="deliveries_status_check"),
    Index("deliveries_pending_idx", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    Index("deliveries_appeal_idx", "appeal_id"),
)
