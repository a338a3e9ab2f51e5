"""The problems service's own tables, in schema ``problems``. The kit's outbox, inbox and idempotency keys live
beside them.

Personal data (an applicant's name, e-mail and postal address for the official answer) is kept apart in
``applicants`` so that erasing a user is a delete there plus nulling author ids elsewhere.
"""

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID

SCHEMA = "problems"
metadata = MetaData(schema=SCHEMA)

_now = func.now()

STATUSES = (
    "moderation",
    "published",
    "sent",
    "registered",
    "in_work",
    "answered",
    "solved",
    "not_solved",
    "forwarded",
    "rejected",
    "withdrawn",
    "merged",
)
_STATUS_CHECK = "status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")"


maps = Table(
    "maps",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("volunteers_only", Boolean, nullable=False, server_default=text("false")),
    Column("premoderation", Boolean, nullable=False, server_default=text("false")),
    Column("position", Integer, nullable=False, server_default=text("0")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
)

categories = Table(
    "categories",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("map_id", UUID(as_uuid=True), ForeignKey("problems.maps.id", ondelete="RESTRICT"), nullable=False),
    Column("code", Text, nullable=False, unique=True, comment="Stable code, the Open311 service_code."),
    Column("parent_id", UUID(as_uuid=True), ForeignKey("problems.categories.id", ondelete="RESTRICT")),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("icon", Text, nullable=False, server_default="default"),
    Column("anonymous_allowed", Boolean, nullable=False, server_default=text("false")),
    Column("private", Boolean, nullable=False, server_default=text("false")),
    Column("duplicate_radius_m", Integer, nullable=False, server_default=text("250")),
    Column("keywords", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column(
        "attributes",
        JSONB,
        nullable=False,
        server_default=text("'[]'::jsonb"),
        comment="Open311 service attributes: [{code, datatype, required, description, order, values:[{key,name}]}].",
    ),
    Column("position", Integer, nullable=False, server_default=text("0")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    CheckConstraint("duplicate_radius_m BETWEEN 10 AND 5000", name="categories_radius_check"),
    Index("categories_map_idx", "map_id", "position", "code"),
)

territories = Table(
    "territories",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, comment="routing's territory id"),
    Column("oktmo", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("parent_id", UUID(as_uuid=True)),
    Column("timezone", Text, nullable=False, server_default="Europe/Moscow"),
    Column("boundary", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)),
    Column(
        "premoderation",
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="Ours, not routing's: reports inside this territory wait for a moderator.",
    ),
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Index("territories_boundary_gist", "boundary", postgresql_using="gist"),
    Index("territories_oktmo_idx", "oktmo"),
)

problems = Table(
    "problems",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("map_id", UUID(as_uuid=True), ForeignKey("problems.maps.id", ondelete="RESTRICT"), nullable=False),
    Column(
        "category_id", UUID(as_uuid=True), ForeignKey("problems.categories.id", ondelete="RESTRICT"), nullable=False
    ),
    Column("status", Text, nullable=False),
    Column("private", Boolean, nullable=False, server_default=text("false"), comment="Copied from the category."),
    Column("point", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    Column("address", Text, nullable=False, server_default=""),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("extra", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("original", JSONB, comment="title/description/address/extra as reported, kept when a moderator edits."),
    Column("author_id", UUID(as_uuid=True), comment="Null when anonymised or erased."),
    Column("anonymous", Boolean, nullable=False, server_default=text("false")),
    Column("reported_by_client", Text, comment="OAuth client that reported on behalf of a resident."),
    Column("territory_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'::uuid[]")),
    Column("reported_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("published_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("supports_count", Integer, nullable=False, server_default=text("0")),
    Column("comments_count", Integer, nullable=False, server_default=text("0")),
    Column(
        "search",
        TSVECTOR,
        Computed(
            "to_tsvector('russian'::regconfig, coalesce(title, '') || ' ' || coalesce(description, '') || ' ' "
            "|| coalesce(address, ''))",
            persisted=True,
        ),
    ),
    Column("authority_id", UUID(as_uuid=True)),
    Column("authority_name", Text),
    Column("appeal_id", UUID(as_uuid=True)),
    Column("answer_due_at", DateTime(timezone=True), comment="The 59-FZ deadline, from routing."),
    Column("answered_at", DateTime(timezone=True)),
    Column("can_confirm_until", DateTime(timezone=True), comment="answered_at + 15 days while undecided."),
    Column("confirmed_at", DateTime(timezone=True)),
    Column("disputed_at", DateTime(timezone=True)),
    Column("rating", SmallInteger),
    Column("rated_at", DateTime(timezone=True)),
    Column("merged_into", UUID(as_uuid=True), ForeignKey("problems.problems.id", ondelete="SET NULL")),
    Column("moderation_reason", Text, comment="Why a moderator rejected it (shown to the author)."),
    Column(
        "routing_event_at",
        DateTime(timezone=True),
        comment="occurred_at of the last routing event applied: late older ones do not move the status back.",
    ),
    CheckConstraint(_STATUS_CHECK, name="problems_status_check"),
    CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="problems_rating_check"),
    CheckConstraint("char_length(description) <= 4000", name="problems_description_length"),
    Index("problems_point_gist", "point", postgresql_using="gist"),
    Index("problems_search_gin", "search", postgresql_using="gin"),
    Index("problems_territories_gin", "territory_ids", postgresql_using="gin"),
    Index("problems_status_idx", "status", "reported_at"),
    Index("problems_reported_idx", "reported_at", "id"),
    Index("problems_supports_idx", "supports_count", "id"),
    Index("problems_category_idx", "category_id", "reported_at"),
    Index("problems_map_idx", "map_id", "reported_at"),
    Index("problems_author_idx", "author_id", "reported_at", postgresql_where=text("author_id IS NOT NULL")),
    Index("problems_appeal_idx", "appeal_id", postgresql_where=text("appeal_id IS NOT NULL")),
    Index("problems_confirm_due_idx", "can_confirm_until", postgresql_where=text("can_confirm_until IS NOT NULL")),
)

applicants = Table(
    "applicants",
    metadata,
    Column("problem_id", UUID(as_uuid=True), ForeignKey("problems.problems.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", UUID(as_uuid=True), comment="Whose data this is (for erasure); null for a partner's applicant."),
    Column("display_name", Text, comment="Shown as the author unless anonymous."),
    Column("full_name", Text),
    Column("email", Text),
    Column("postal_address", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Index("applicants_user_idx", "user_id"),
)

photos = Table(
    "photos",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("problem_id", UUID(as_uuid=True), ForeignKey("problems.problems.id", ondelete="CASCADE")),
    Column("owner_id", Text, nullable=False, comment="Token subject that uploaded it."),
    Column("storage_key", Text, nullable=False),
    Column("thumbnail_key", Text, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("position", SmallInteger, nullable=False, server_default=text("0")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Index("photos_problem_idx", "problem_id", "position"),
    Index("photos_unattached_idx", "created_at", postgresql_where=text("problem_id IS NULL")),
)

supports = Table(
    "supports",
    metadata,
    Column("problem_id", UUID(as_uuid=True), ForeignKey("problems.problems.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    PrimaryKeyConstraint("problem_id", "user_id"),
    Index("supports_user_idx", "user_id"),
)

comments = Table(
    "comments",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("problem_id", UUID(as_uuid=True), ForeignKey("problems.problems.id", ondelete="CASCADE"), nullable=False),
    Column("author_id", UUID(as_uuid=True), comment="Null once the author is erased."),
    Column("author_name", Text, comment="Display name at the time of writing; null once erased."),
    Column("body", Text, nullable=False),
    Column("hidden", Boolean, nullable=False, server_default=text("false")),
    Column("hidden_reason", Text),
    Column("hidden_by", UUID(as_uuid=True)),
    Column("flags_count", Integer, nullable=False, server_default=text("0")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("edited_at", DateTime(timezone=True)),
    CheckConstraint("char_length(body) BETWEEN 1 AND 2000", name="comments_body_length"),
    Index("comments_problem_idx", "problem_id", "created_at", "id"),
    Index("comments_author_idx", "author_id"),
    Index("comments_flagged_idx", "flags_count", postgresql_where=text("flags_count > 0 AND NOT hidden")),
)

comment_flags = Table(
    "comment_flags",
    metadata,
    Column("comment_id", UUID(as_uuid=True), ForeignKey("problems.comments.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    PrimaryKeyConstraint("comment_id", "user_id"),
)

moderation_records = Table(
    "moderation_records",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("problem_id", UUID(as_uuid=True), ForeignKey("problems.problems.id", ondelete="CASCADE"), nullable=False),
    Column("moderator_id", UUID(as_uuid=True)),
    Column("action", Text, nullable=False, comment="approve, reject, edit, merge, hide_comment"),
    Column("reason", Text),
    Column("before", JSONB),
    Column("after", JSONB),
    Column("at", DateTime(timezone=True), nullable=False, server_default=_now),
    Index("moderation_records_problem_idx", "problem_id", "at"),
)

status_history = Table(
    "status_history",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("problem_id", UUID(as_uuid=True), ForeignKey("problems.problems.id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("text", Text, nullable=False, server_default="", comment="Public Russian text of the step."),
    Column("authority_id", UUID(as_uuid=True)),
    Column("authority_name", Text),
    Column("source_event", Text, comment="Routing key of the event that caused it, if any."),
    Index("status_history_problem_idx", "problem_id", "at", "id"),
)

answers = Table(
    "answers",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, comment="routing's answer id"),
    Column("problem_id", UUID(as_uuid=True), ForeignKey("problems.problems.id", ondelete="CASCADE"), nullable=False),
    Column("appeal_id", UUID(as_uuid=True), nullable=False),
    Column("authority_id", UUID(as_uuid=True)),
    Column("authority_name", Text),
    Column("text", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("planned_for", Date),
    Column("answered_at", DateTime(timezone=True), nullable=False),
    Column("answered_by", Text),
    Column("on_time", Boolean),
    Column("attachments", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Index("answers_problem_idx", "problem_id", "answered_at"),
)


from problems.db import subscription_tables as _reading_tables  # noqa: E402,F401  (they share this metadata)
