"""The problems core: maps, categories, territories, problems, applicants, photos, supports, comments,
moderation records, status history, answers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 19:13:36.905822
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maps",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("volunteers_only", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("premoderation", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        schema="problems",
    )
    op.create_table(
        "territories",
        sa.Column("id", sa.UUID(), nullable=False, comment="routing's territory id"),
        sa.Column("oktmo", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("timezone", sa.Text(), server_default="Europe/Moscow", nullable=False),
        sa.Column("boundary", geoalchemy2.Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True),
        sa.Column(
            "premoderation",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Ours, not routing's: reports inside this territory wait for a moderator.",
        ),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="problems",
    )
    op.create_index(
        "territories_boundary_gist",
        "territories",
        ["boundary"],
        unique=False,
        schema="problems",
        postgresql_using="gist",
    )
    op.create_index("territories_oktmo_idx", "territories", ["oktmo"], unique=False, schema="problems")
    op.create_table(
        "categories",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("map_id", sa.UUID(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False, comment="Stable code, the Open311 service_code."),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("icon", sa.Text(), server_default="default", nullable=False),
        sa.Column("anonymous_allowed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("private", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("duplicate_radius_m", sa.Integer(), server_default=sa.text("250"), nullable=False),
        sa.Column("keywords", sa.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment=(
                "Open311 service attributes: [{code, datatype, required, description, order, values:[{key,name}]}]."
            ),
        ),
        sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("duplicate_radius_m BETWEEN 10 AND 5000", name="categories_radius_check"),
        sa.ForeignKeyConstraint(["map_id"], ["problems.maps.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["parent_id"], ["problems.categories.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        schema="problems",
    )
    op.create_index("categories_map_idx", "categories", ["map_id", "position", "code"], unique=False, schema="problems")
    op.create_table(
        "problems",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("map_id", sa.UUID(), nullable=False),
        sa.Column("category_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "private",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Copied from the category.",
        ),
        sa.Column("point", geoalchemy2.Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("address", sa.Text(), server_default="", nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "extra", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column(
            "original",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="title/description/address/extra as reported, kept when a moderator edits.",
        ),
        sa.Column("author_id", sa.UUID(), nullable=True, comment="Null when anonymised or erased."),
        sa.Column("anonymous", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "reported_by_client",
            sa.Text(),
            nullable=True,
            comment="OAuth client that reported on behalf of a resident.",
        ),
        sa.Column("territory_ids", sa.ARRAY(sa.UUID()), server_default=sa.text("'{}'::uuid[]"), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("supports_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("comments_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            sa.Computed(
                "to_tsvector('russian'::regconfig, coalesce(title, '') || ' ' || coalesce(description, '') || ' ' "
                "|| coalesce(address, ''))",
                persisted=True,
            ),
            nullable=True,
        ),
        sa.Column("authority_id", sa.UUID(), nullable=True),
        sa.Column("authority_name", sa.Text(), nullable=True),
        sa.Column("appeal_id", sa.UUID(), nullable=True),
        sa.Column(
            "answer_due_at", sa.DateTime(timezone=True), nullable=True, comment="The 59-FZ deadline, from routing."
        ),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "can_confirm_until",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="answered_at + 15 days while undecided.",
        ),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disputed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merged_into", sa.UUID(), nullable=True),
        sa.Column(
            "moderation_reason", sa.Text(), nullable=True, comment="Why a moderator rejected it (shown to the author)."
        ),
        sa.Column(
            "routing_event_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="occurred_at of the last routing event applied: late older ones do not move the status back.",
        ),
        sa.CheckConstraint(
            "status IN ('moderation', 'published', 'sent', 'registered', 'in_work', 'answered', 'solved', "
            "'not_solved', 'forwarded', 'rejected', 'withdrawn', 'merged')",
            name="problems_status_check",
        ),
        sa.CheckConstraint("char_length(description) <= 4000", name="problems_description_length"),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="problems_rating_check"),
        sa.ForeignKeyConstraint(["category_id"], ["problems.categories.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["map_id"], ["problems.maps.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["merged_into"], ["problems.problems.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        schema="problems",
    )
    op.create_index(
        "problems_appeal_idx",
        "problems",
        ["appeal_id"],
        unique=False,
        schema="problems",
        postgresql_where=sa.text("appeal_id IS NOT NULL"),
    )
    op.create_index(
        "problems_author_idx",
        "problems",
        ["author_id", "reported_at"],
        unique=False,
        schema="problems",
        postgresql_where=sa.text("author_id IS NOT NULL"),
    )
    op.create_index(
        "problems_category_idx", "problems", ["category_id", "reported_at"], unique=False, schema="problems"
    )
    op.create_index(
        "problems_confirm_due_idx",
        "problems",
        ["can_confirm_until"],
        unique=False,
        schema="problems",
        postgresql_where=sa.text("can_confirm_until IS NOT NULL"),
    )
    op.create_index("problems_map_idx", "problems", ["map_id", "reported_at"], unique=False, schema="problems")
    op.create_index(
        "problems_point_gist", "problems", ["point"], unique=False, schema="problems", postgresql_using="gist"
    )
    op.create_index(
        "problems_search_gin", "problems", ["search"], unique=False, schema="problems", postgresql_using="gin"
    )
    op.create_index("problems_reported_idx", "problems", ["reported_at", "id"], unique=False, schema="problems")
    op.create_index("problems_supports_idx", "problems", ["supports_count", "id"], unique=False, schema="problems")
    op.create_index("problems_status_idx", "problems", ["status", "reported_at"], unique=False, schema="problems")
    op.create_index(
        "problems_territories_gin",
        "problems",
        ["territory_ids"],
        unique=False,
        schema="problems",
        postgresql_using="gin",
    )
    op.create_table(
        "answers",
        sa.Column("id", sa.UUID(), nullable=False, comment="routing's answer id"),
        sa.Column("problem_id", sa.UUID(), nullable=False),
        sa.Column("appeal_id", sa.UUID(), nullable=False),
        sa.Column("authority_id", sa.UUID(), nullable=True),
        sa.Column("authority_name", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("planned_for", sa.Date(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_by", sa.Text(), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column(
            "attachments",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["problem_id"], ["problems.problems.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="problems",
    )
    op.create_index("answers_problem_idx", "answers", ["problem_id", "answered_at"], unique=False, schema="problems")
    op.create_table(
        "applicants",
        sa.Column("problem_id", sa.UUID(), nullable=False),
        sa.Column(
            "user_id",
            sa.UUID(),
            nullable=True,
            comment="Whose data this is (for erasure); null for a partner's applicant.",
        ),
        sa.Column("display_name", sa.Text(), nullable=True, comment="Shown as the author unless anonymous."),
        sa.Column("full_name", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("postal_address", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["problem_id"], ["problems.problems.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("problem_id"),
        schema="problems",
    )
    op.create_index("applicants_user_idx", "applicants", ["user_id"], unique=False, schema="problems")
    op.create_table(
        "comments",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("problem_id", sa.UUID(), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=True, comment="Null once the author is erased."),
        sa.Column(
            "author_name", sa.Text(), nullable=True, comment="Display name at the time of writing; null once erased."
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("hidden", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("hidden_reason", sa.Text(), nullable=True),
        sa.Column("hidden_by", sa.UUID(), nullable=True),
        sa.Column("flags_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("char_length(body) BETWEEN 1 AND 2000", name="comments_body_length"),
        sa.ForeignKeyConstraint(["problem_id"], ["problems.problems.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="problems",
    )
    op.create_index("comments_author_idx", "comments", ["author_id"], unique=False, schema="problems")
    op.create_index(
        "comments_flagged_idx",
        "comments",
        ["flags_count"],
        unique=False,
        schema="problems",
        postgresql_where=sa.text("flags_count > 0 AND NOT hidden"),
    )
    op.create_index(
        "comments_problem_idx", "comments", ["problem_id", "created_at", "id"], unique=False, schema="problems"
    )
    op.create_table(
        "moderation_records",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("problem_id", sa.UUID(), nullable=False),
        sa.Column("moderator_id", sa.UUID(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False, comment="approve, reject, edit, merge, hide_comment"),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["problem_id"], ["problems.problems.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="problems",
    )
    op.create_index(
        "moderation_records_problem_idx", "moderation_records", ["problem_id", "at"], unique=False, schema="problems"
    )
    op.create_table(
        "photos",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("problem_id", sa.UUID(), nullable=True),
        sa.Column("owner_id", sa.Text(), nullable=False, comment="Token subject that uploaded it."),
        sa.Column("storage_key", sa.Text(), nullable=False),
        sa.Column("thumbnail_key", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["problem_id"], ["problems.problems.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="problems",
    )
    op.create_index("photos_problem_idx", "photos", ["problem_id", "position"], unique=False, schema="problems")
    op.create_index(
        "photos_unattached_idx",
        "photos",
        ["created_at"],
        unique=False,
        schema="problems",
        postgresql_where=sa.text("problem_id IS NULL"),
    )
    op.create_table(
        "status_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("problem_id", sa.UUID(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False, comment="Public Russian text of the step."),
        sa.Column("authority_id", sa.UUID(), nullable=True),
        sa.Column("authority_name", sa.Text(), nullable=True),
        sa.Column("source_event", sa.Text(), nullable=True, comment="Routing key of the event that caused it, if any."),
        sa.ForeignKeyConstraint(["problem_id"], ["problems.problems.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="problems",
    )
    op.create_index(
        "status_history_problem_idx", "status_history", ["problem_id", "at", "id"], unique=False, schema="problems"
    )
    op.create_table(
        "supports",
        sa.Column("problem_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["problem_id"], ["problems.problems.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("problem_id", "user_id"),
        schema="problems",
    )
    op.create_index("supports_user_idx", "supports", ["user_id"], unique=False, schema="problems")
    op.create_table(
        "comment_flags",
        sa.Column("comment_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["comment_id"], ["problems.comments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("comment_id", "user_id"),
        schema="problems",
    )


def downgrade() -> None:
    op.drop_table("comment_flags", schema="problems")
    op.drop_index("supports_user_idx", table_name="supports", schema="problems")
    op.drop_table("supports", schema="problems")
    op.drop_index("status_history_problem_idx", table_name="status_history", schema="problems")
    op.drop_table("status_history", schema="problems")
    op.drop_index(
        "photos_unattached_idx", table_name="photos", schema="problems", postgresql_where=sa.text("problem_id IS NULL")
    )
    op.drop_index("photos_problem_idx", table_name="photos", schema="problems")
    op.drop_table("photos", schema="problems")
    op.drop_index("moderation_records_problem_idx", table_name="moderation_records", schema="problems")
    op.drop_table("moderation_records", schema="problems")
    op.drop_index("comments_problem_idx", table_name="comments", schema="problems")
    op.drop_index(
        "comments_flagged_idx",
        table_name="comments",
        schema="problems",
        postgresql_where=sa.text("flags_count > 0 AND NOT hidden"),
    )
    op.drop_index("comments_author_idx", table_name="comments", schema="problems")
    op.drop_table("comments", schema="problems")
    op.drop_index("applicants_user_idx", table_name="applicants", schema="problems")
    op.drop_table("applicants", schema="problems")
    op.drop_index("answers_problem_idx", table_name="answers", schema="problems")
    op.drop_table("answers", schema="problems")
    op.drop_index("problems_territories_gin", table_name="problems", schema="problems", postgresql_using="gin")
    op.drop_index("problems_status_idx", table_name="problems", schema="problems")
    op.drop_index("problems_search_gin", table_name="problems", schema="problems", postgresql_using="gin")
    op.drop_index("problems_point_gist", table_name="problems", schema="problems", postgresql_using="gist")
    op.drop_index("problems_map_idx", table_name="problems", schema="problems")
    op.drop_index(
        "problems_confirm_due_idx",
        table_name="problems",
        schema="problems",
        postgresql_where=sa.text("can_confirm_until IS NOT NULL"),
    )
    op.drop_index("problems_category_idx", table_name="problems", schema="problems")
    op.drop_index(
        "problems_author_idx",
        table_name="problems",
        schema="problems",
        postgresql_where=sa.text("author_id IS NOT NULL"),
    )
    op.drop_index(
        "problems_appeal_idx",
        table_name="problems",
        schema="problems",
        postgresql_where=sa.text("appeal_id IS NOT NULL"),
    )
    op.drop_table("problems", schema="problems")
    op.drop_index("categories_map_idx", table_name="categories", schema="problems")
    op.drop_table("categories", schema="problems")
    op.drop_index("territories_oktmo_idx", table_name="territories", schema="problems")
    op.drop_index("territories_boundary_gist", table_name="territories", schema="problems", postgresql_using="gist")
    op.drop_table("territories", schema="problems")
    op.drop_table("maps", schema="problems")
