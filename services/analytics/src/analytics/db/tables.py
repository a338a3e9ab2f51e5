"""The analytics service's own tables, in schema ``analytics``. The kit's outbox, inbox and idempotency keys
live beside them.

``archive`` is the append-only log of every event received; every other table is a read model that the
projector (``analytics.usecases.projector``) builds from it and can rebuild from scratch.
"""

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

SCHEMA = "analytics"
metadata = MetaData(schema=SCHEMA)

_now = func.now()

archive = Table(
    "archive",
    metadata,
    Column("seq", BigInteger, Identity(always=True), primary_key=True),
    Column(
        "txid",
        BigInteger,
        nullable=False,
        server_default=text("(pg_current_xact_id()::text)::bigint"),
        comment="The inserting transaction: the projector reads in (txid, seq) order, below the snapshot xmin.",
    ),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("type", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("subject", Text),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("data", JSONB, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Index("archive_order_idx", "txid", "seq"),
    comment="Append-only: every event analytics received, exactly once (unique event id).",
)

positions = Table(
    "projection_positions",
    metadata,
    Column("model", Text, primary_key=True),
    Column("txid", BigInteger, nullable=False, server_default="0"),
    Column("seq", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    comment="How far each read model has applied the archive, in (txid, seq) order.",
)

# --- read model "directory": territories and authorities -------------------------------------------------

territories = Table(
    "territories",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("oktmo", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("parent_id", UUID(as_uuid=True)),
    Column("timezone", Text, nullable=False),
    Column("boundary", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)),
    Column("area", BigInteger, comment="Square metres of the boundary: the smallest covering territory wins."),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Index("territories_boundary_gist", "boundary", postgresql_using="gist"),
    Index("territories_parent_idx", "parent_id"),
)

authorities = Table(
    "authorities",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("parent_id", UUID(as_uuid=True)),
    Column("territory_id", UUID(as_uuid=True)),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

# --- read model "problems" ---------------------------------------------------------------------------------

problems = Table(
    "problems",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("category_id", UUID(as_uuid=True)),
    Column("category_code", Text),
    Column("category_name", Text),
    Column("status", Text, nullable=False),
    Column("status_changed_at", DateTime(timezone=True)),
    Column("point", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    Column("territory_id", UUID(as_uuid=True), comment="The smallest territory whose boundary holds the point."),
    Column(
        "territory_path",
        ARRAY(UUID(as_uuid=True)),
        nullable=False,
        server_default="{}",
        comment="That territory and all its ancestors.",
    ),
    Column("reported_at", DateTime(timezone=True)),
    Column("published_at", DateTime(timezone=True)),
    Column("solved_at", DateTime(timezone=True)),
    Column("confirmed_at", DateTime(timezone=True)),
    Column("reopened_count", Integer, nullable=False, server_default="0"),
    Index("problems_path_gin", "territory_path", postgresql_using="gin"),
    Index("problems_point_gist", "point", postgresql_using="gist"),
    Index("problems_territory_idx", "territory_id", "reported_at"),
)

problem_days = Table(
    "problem_days",
    metadata,
    Column("territory_id", UUID(as_uuid=True), primary_key=True),
    Column("day", Date, primary_key=True, comment="Local day in the territory's time zone."),
    Column("category_code", Text, primary_key=True, comment="'' when the problem has none"),
    Column("category_name", Text, primary_key=True, comment="'' when the problem has none"),
    Column("status", Text, primary_key=True),
    Column(
        "reported",
        Integer,
        nullable=False,
        comment="Problems reported that day now in this status (not moderation/rejected/merged/withdrawn).",
    ),
    Column("solved", Integer, nullable=False, comment="Problems solved that day now in this status."),
    comment="Rollup of problems, kept by a trigger on problems (rebuilt with the problems model).",
)
"""Problems per (territory of the path, local day, category, status), kept by the trigger
``problem_days_maintain`` (migration 0003) in the projector's transactions; the dashboard reads it instead of
scanning every problem of the territory."""

problem_weeks = Table(
    "problem_weeks",
    metadata,
    Column("territory_id", UUID(as_uuid=True), primary_key=True),
    Column("week", Date, primary_key=True, comment="Monday of the local week, territory's time zone."),
    Column("category_code", Text, primary_key=True, comment="'' when the problem has none"),
    Column("category_name", Text, primary_key=True, comment="'' when the problem has none"),
    Column("status", Text, primary_key=True),
    Column("reported", Integer, nullable=False, comment="As in problem_days, by week."),
    Column("solved", Integer, nullable=False, comment="As in problem_days, by week."),
    comment="Rollup of problems by week, kept by a trigger on problems (rebuilt with the problems model).",
)
"""``problem_days`` by week (trigger ``problem_weeks_maintain``, migration 0006): a period reads its whole weeks
here and only the days around them from ``problem_days``."""

# --- read model "appeals" ----------------------------------------------------------------------------------

appeals = Table(
    "appeals",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("problem_id", UUID(as_uuid=True), nullable=False),
    Column("authority_id", UUID(as_uuid=True), nullable=False),
    Column("authority_name", Text, nullable=False),
    Column("department_id", UUID(as_uuid=True)),
    Column("territory_id", UUID(as_uuid=True)),
    Column("territory_path", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
    Column("category_id", UUID(as_uuid=True)),
    Column("channel", Text),
    Column("sent_at", DateTime(timezone=True)),
    Column("registration_due_at", DateTime(timezone=True)),
    Column("registered_at", DateTime(timezone=True)),
    Column("registration_number", Text),
    Column("answer_due_at", DateTime(timezone=True)),
    Column("answered_at", DateTime(timezone=True)),
    Column("outcome", Text),
    Column("on_time", Boolean),
    Column("extensions", SmallInteger, nullable=False, server_default="0"),
    Column("extended_days", Integer, nullable=False, server_default="0"),
    Column("forwards", SmallInteger, nullable=False, server_default="0"),
    Column("escalations", SmallInteger, nullable=False, server_default="0"),
    Column("overdue_flagged", Boolean, nullable=False, server_default="false", comment="routing said: overdue"),
    Column("delivery_failures", SmallInteger, nullable=False, server_default="0"),
    Index("appeals_path_gin", "territory_path", postgresql_using="gin"),
    Index("appeals_problem_idx", "problem_id"),
    Index("appeals_authority_idx", "authority_id", "sent_at"),
    Index("appeals_department_idx", "department_id", "sent_at"),
    Index(
        "appeals_open_due_idx",
        "answer_due_at",
        postgresql_where=text("answered_at IS NULL"),
    ),
    # the open appeals are few and the reports that depend on the clock read only them (migration 0007)
    Index("appeals_open_authority_id_idx", "authority_id", "sent_at", postgresql_where=text("answered_at IS NULL")),
    Index("appeals_open_department_id_idx", "department_id", "sent_at", postgresql_where=text("answered_at IS NULL")),
    Index(
        "appeals_open_path_gin", "territory_path", postgresql_using="gin", postgresql_where=text("answered_at IS NULL")
    ),
)

appeal_times = Table(
    "appeal_times",
    metadata,
    Column("territory_id", UUID(as_uuid=True), primary_key=True),
    Column("span", Text, primary_key=True, comment="'day' or 'week' (starting on Monday)"),
    Column("start", Date, primary_key=True, comment="First local day of the span, territory's time zone."),
    Column("appeals", Integer, nullable=False, comment="Appeals sent in the span."),
    Column(
        "registration",
        ARRAY(Integer),
        nullable=False,
        comment="Of those registered: how many per bucket of time to registration (analytics.duration_bucket).",
    ),
    Column(
        "answer", ARRAY(Integer), nullable=False, comment="Of those answered: how many per bucket of time to answer."
    ),
    comment="Rollup of appeals, kept by a trigger on appeals (rebuilt with the appeals model).",
)
"""Appeals sent and histograms of their times to registration and answer (``analytics.domain.histogram``) per
(territory of the path, local day or week of sending), kept by the trigger ``appeal_times_maintain`` (migration
0004); the dashboard's response times add up at most a few dozen of its rows per territory."""

authority_days = Table(
    "authority_days",
    metadata,
    Column("unit_id", UUID(as_uuid=True), primary_key=True, comment="Authority or department."),
    Column("span", Text, primary_key=True, comment="'day' or 'month'"),
    Column("start", Date, primary_key=True, comment="First local day of the span, Moscow time."),
    Column("appeals", Integer, nullable=False, comment="Appeals sent in the span."),
    Column("answered", Integer, nullable=False, comment="Of those, answered."),
    Column("on_time", Integer, nullable=False, comment="Of those, answered on time."),
    Column("answer_seconds", Numeric, nullable=False, comment="Sum of the answered ones' times."),
    Column("solved", Integer, nullable=False, comment="Of those, whose problem is solved now."),
    comment="Rollup of appeals by authority, kept by triggers on appeals and problems (rebuilt with them).",
)
"""The authority card's rollup: per authority or department (an appeal counts for both), local day or month of
sending in Moscow time, kept by the triggers of migration 0007 on ``appeals`` and ``problems``; a card adds up
its whole months and the days around them."""

# --- read model "ratings" ----------------------------------------------------------------------------------

votes = Table(
    "votes",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("problem_id", UUID(as_uuid=True), nullable=False),
    Column("appeal_id", UUID(as_uuid=True)),
    Column("kind", Text, nullable=False, comment="rating | confirmed | reopened"),
    Column("score", SmallInteger, nullable=False, comment="1..5; a confirmation counts 5, a dispute 1"),
    Column("voted_at", DateTime(timezone=True), nullable=False),
    Index("votes_problem_idx", "problem_id"),
    Index("votes_appeal_idx", "appeal_id"),
)

vote_attributions = Table(
    "vote_attributions",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("problem_id", UUID(as_uuid=True), nullable=False),
    Column("voted_at", DateTime(timezone=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("score", SmallInteger, nullable=False),
    Column("territory_path", ARRAY(UUID(as_uuid=True)), nullable=False),
    Column("unit_id", UUID(as_uuid=True), nullable=False, comment="department, else authority"),
    Column("via_department", Boolean, nullable=False),
    Column("authority_name", Text, nullable=False),
    Index("vote_attributions_problem_idx", "problem_id"),
    comment="Each vote with the appeal it counts for (kept by triggers on votes and appeals).",
)
"""Each vote with the department it counts for (its appeal's, or its problem's latest appeal's), kept by the
triggers of migration 0005 on ``votes`` and ``appeals``."""

vote_days = Table(
    "vote_days",
    metadata,
    Column("territory_id", UUID(as_uuid=True), primary_key=True),
    Column("span", Text, primary_key=True, comment="'day' or 'week' (starting on Monday)"),
    Column("start", Date, primary_key=True, comment="First local day of the span, territory's time zone."),
    Column("unit_id", UUID(as_uuid=True), primary_key=True),
    Column("via_department", Boolean, primary_key=True),
    Column("authority_name", Text, primary_key=True),
    Column("votes", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("ratings", Integer, nullable=False),
    Column("confirmations", Integer, nullable=False),
    Column("disputes", Integer, nullable=False),
    Index("vote_days_emptied", "territory_id", postgresql_where=text("votes = 0")),
    comment="Votes per territory, local day or week, department (kept with vote_attributions).",
)
"""The rating's rollup: per territory of the appeal's path, span and department; the rating of a territory adds
up at most a few dozen spans per department."""
