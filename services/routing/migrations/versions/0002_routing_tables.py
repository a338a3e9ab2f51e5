"""Routing tables: territories (boundaries with a GiST index), authorities, jurisdiction rules, supervisors,
officials and invitations, problem copies, appeals with applicants kept apart, timeline, answers, attachments,
notes, templates, deadline marks, deliveries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 19:13:52.201222
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
        "problems",
        sa.Column("id", sa.UUID(), nullable=False, comment="The problems service's problem id."),
        sa.Column("category_id", sa.UUID(), nullable=False),
        sa.Column("category_code", sa.Text(), nullable=False),
        sa.Column("category_name", sa.Text(), nullable=False),
        sa.Column(
            "point",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("address", sa.Text(), server_default="", nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("photos", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("public_url", sa.Text(), nullable=True),
        sa.Column("author_id", sa.UUID(), nullable=True, comment="Kept to find the applicant's data on erasure."),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="routing",
    )
    op.create_index("problems_author_idx", "problems", ["author_id"], unique=False, schema="routing")
    op.create_table(
        "territories",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("oktmo", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), server_default="Europe/Moscow", nullable=False, comment="IANA time zone."),
        sa.Column(
            "depth", sa.Integer(), server_default="0", nullable=False, comment="0 for a root; parent's depth + 1."
        ),
        sa.Column(
            "boundary",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
            comment="WGS84; valid (ST_MakeValid on import). Null when not imported yet.",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "level IN ('region', 'municipal_district', 'city_district', 'urban_okrug', 'settlement')",
            name="territories_level_check",
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["routing.territories.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        schema="routing",
    )
    op.create_index(
        "territories_boundary_gist",
        "territories",
        ["boundary"],
        unique=False,
        schema="routing",
        postgresql_using="gist",
    )
    op.create_index("territories_oktmo_key", "territories", ["oktmo"], unique=True, schema="routing")
    op.create_index("territories_parent_idx", "territories", ["parent_id"], unique=False, schema="routing")
    op.create_table(
        "authorities",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "territory_id",
            sa.UUID(),
            nullable=True,
            comment="The territory an administration governs (it answers there when no rule matches).",
        ),
        sa.Column("timezone", sa.Text(), server_default="Europe/Moscow", nullable=False),
        sa.Column("channel", sa.Text(), server_default="cabinet", nullable=False),
        sa.Column(
            "email",
            sa.Text(),
            nullable=True,
            comment="The official address appeals are e-mailed to (channel email / both).",
        ),
        sa.Column(
            "calendar_country", sa.Text(), server_default="RU", nullable=False, comment="`holidays` country code."
        ),
        sa.Column(
            "calendar_subdiv",
            sa.Text(),
            nullable=True,
            comment="`holidays` subdivision, e.g. a republic with its own holidays.",
        ),
        sa.Column(
            "extra_holidays", sa.ARRAY(sa.Date()), server_default="{}", nullable=False, comment="Local days off."
        ),
        sa.Column(
            "extra_workdays", sa.ARRAY(sa.Date()), server_default="{}", nullable=False, comment="Local working days."
        ),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "channel = 'cabinet' OR email IS NOT NULL", name="authorities_email_channel_needs_address_check"
        ),
        sa.CheckConstraint("channel IN ('cabinet', 'email', 'cabinet_and_email')", name="authorities_channel_check"),
        sa.CheckConstraint("kind IN ('administration', 'department', 'supervisory')", name="authorities_kind_check"),
        sa.ForeignKeyConstraint(["parent_id"], ["routing.authorities.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["territory_id"], ["routing.territories.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        schema="routing",
    )
    op.create_index(
        "authorities_administration_of_territory_key",
        "authorities",
        ["territory_id"],
        unique=True,
        schema="routing",
        postgresql_where=sa.text("kind = 'administration'"),
    )
    op.create_index("authorities_parent_idx", "authorities", ["parent_id"], unique=False, schema="routing")
    op.create_table(
        "appeals",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("problem_id", sa.UUID(), nullable=False),
        sa.Column("authority_id", sa.UUID(), nullable=False),
        sa.Column("department_id", sa.UUID(), nullable=True),
        sa.Column("assignee_user_id", sa.UUID(), nullable=True, comment="An official of the authority, or none."),
        sa.Column("territory_id", sa.UUID(), nullable=True),
        sa.Column("category_id", sa.UUID(), nullable=False),
        sa.Column("category_code", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="sent", nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, comment="Why this authority, in Russian, for officials."),
        sa.Column("repeat_of", sa.UUID(), nullable=True),
        sa.Column("forwarded_from", sa.UUID(), nullable=True),
        sa.Column("forwarded_to", sa.UUID(), nullable=True),
        sa.Column("registration_number", sa.Text(), nullable=True),
        sa.Column("reply_token", sa.Text(), nullable=False, comment="Unguessable; the e-mail channel's reply address."),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registration_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("forward_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extended_by_days", sa.Integer(), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("channel IN ('cabinet', 'email', 'cabinet_and_email')", name="appeals_channel_check"),
        sa.CheckConstraint(
            "status IN ('sent', 'registered', 'in_work', 'answered', 'forwarded')", name="appeals_status_check"
        ),
        sa.CheckConstraint("extended_by_days BETWEEN 1 AND 30", name="appeals_extension_check"),
        sa.ForeignKeyConstraint(["authority_id"], ["routing.authorities.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["department_id"], ["routing.authorities.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["forwarded_from"], ["routing.appeals.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["forwarded_to"], ["routing.appeals.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["problem_id"], ["routing.problems.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["repeat_of"], ["routing.appeals.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["territory_id"], ["routing.territories.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        schema="routing",
    )
    op.create_index(
        "appeals_answer_due_idx",
        "appeals",
        ["answer_due_at"],
        unique=False,
        schema="routing",
        postgresql_where=sa.text("status IN ('registered', 'in_work')"),
    )
    op.create_index(
        "appeals_authority_queue_idx",
        "appeals",
        ["authority_id", "status", "registration_due_at", "id"],
        unique=False,
        schema="routing",
    )
    op.create_index("appeals_problem_idx", "appeals", ["problem_id"], unique=False, schema="routing")
    op.create_index(
        "appeals_registration_due_idx",
        "appeals",
        ["registration_due_at"],
        unique=False,
        schema="routing",
        postgresql_where=sa.text("status = 'sent'"),
    )
    op.create_index("appeals_reply_token_key", "appeals", ["reply_token"], unique=True, schema="routing")
    op.create_table(
        "jurisdiction_rules",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("territory_id", sa.UUID(), nullable=False),
        sa.Column("category_code", sa.Text(), nullable=False, comment="The problems service's stable category code."),
        sa.Column("authority_id", sa.UUID(), nullable=False),
        sa.Column(
            "note",
            sa.Text(),
            nullable=True,
            comment="Why (shown to officials in the appeal's reason), e.g. a municipal act.",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["authority_id"], ["routing.authorities.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["territory_id"], ["routing.territories.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("territory_id", "category_code", name="jurisdiction_rules_territory_category_key"),
        schema="routing",
    )
    op.create_index(
        "jurisdiction_rules_category_idx", "jurisdiction_rules", ["category_code"], unique=False, schema="routing"
    )
    op.create_table(
        "official_invitations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("authority_id", sa.UUID(), nullable=False),
        sa.Column(
            "token_hash", sa.Text(), nullable=False, comment="sha256 of the token; the token itself is shown once."
        ),
        sa.Column("position", sa.Text(), server_default="", nullable=False),
        sa.Column("department_id", sa.UUID(), nullable=True),
        sa.Column("invited_by", sa.UUID(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_by", sa.UUID(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["authority_id"], ["routing.authorities.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["department_id"], ["routing.authorities.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        schema="routing",
    )
    op.create_index(
        "official_invitations_authority_idx", "official_invitations", ["authority_id"], unique=False, schema="routing"
    )
    op.create_index(
        "official_invitations_token_key", "official_invitations", ["token_hash"], unique=True, schema="routing"
    )
    op.create_table(
        "officials",
        sa.Column("user_id", sa.UUID(), nullable=False, comment="auth's user id (`sub`)."),
        sa.Column("authority_id", sa.UUID(), nullable=False),
        sa.Column(
            "position", sa.Text(), server_default="", nullable=False, comment="Shown on answers; never a person's name."
        ),
        sa.Column("department_id", sa.UUID(), nullable=True),
        sa.Column("invited_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["authority_id"], ["routing.authorities.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["department_id"], ["routing.authorities.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("user_id", "authority_id"),
        schema="routing",
    )
    op.create_index("officials_authority_idx", "officials", ["authority_id"], unique=False, schema="routing")
    op.create_table(
        "response_templates",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("authority_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["authority_id"], ["routing.authorities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="routing",
    )
    op.create_index(
        "response_templates_authority_idx", "response_templates", ["authority_id", "id"], unique=False, schema="routing"
    )
    op.create_table(
        "supervisors",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("territory_id", sa.UUID(), nullable=False),
        sa.Column("category_code", sa.Text(), nullable=False, comment="A category code, or '*' for every category."),
        sa.Column("supervisor_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["supervisor_id"], ["routing.authorities.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["territory_id"], ["routing.territories.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("territory_id", "category_code", name="supervisors_territory_category_key"),
        schema="routing",
    )
    op.create_table(
        "appeal_answers",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("appeal_id", sa.UUID(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("planned_for", sa.Date(), nullable=True),
        sa.Column("refusal_reason", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.Text(), nullable=True, comment="Position or department shown to the public."),
        sa.Column("author_user_id", sa.UUID(), nullable=True),
        sa.Column("source", sa.Text(), server_default="cabinet", nullable=False, comment="cabinet or email."),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("on_time", sa.Boolean(), nullable=False),
        sa.CheckConstraint("outcome <> 'planned' OR planned_for IS NOT NULL", name="appeal_answers_planned_check"),
        sa.CheckConstraint("outcome <> 'refused' OR refusal_reason IS NOT NULL", name="appeal_answers_refused_check"),
        sa.CheckConstraint("outcome IN ('solved', 'planned', 'refused')", name="appeal_answers_outcome_check"),
        sa.ForeignKeyConstraint(["appeal_id"], ["routing.appeals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="routing",
    )
    op.create_index("appeal_answers_appeal_key", "appeal_answers", ["appeal_id"], unique=True, schema="routing")
    op.create_table(
        "appeal_applicants",
        sa.Column("appeal_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True, comment="auth's user id, for erasure."),
        sa.Column("full_name", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("postal_address", sa.Text(), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["appeal_id"], ["routing.appeals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("appeal_id"),
        schema="routing",
    )
    op.create_index("appeal_applicants_user_idx", "appeal_applicants", ["user_id"], unique=False, schema="routing")
    op.create_table(
        "appeal_deadline_marks",
        sa.Column("appeal_id", sa.UUID(), nullable=False),
        sa.Column(
            "kind",
            sa.Text(),
            nullable=False,
            comment="reminder_registration, reminder_answer, overdue_registration, overdue_answer, escalated.",
        ),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False, comment="The deadline this mark is for."),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "notified_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Set when a notification (e-mail) went out.",
        ),
        sa.ForeignKeyConstraint(["appeal_id"], ["routing.appeals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("appeal_id", "kind", "due_at"),
        schema="routing",
    )
    op.create_index(
        "appeal_deadline_marks_unnotified_idx",
        "appeal_deadline_marks",
        ["at"],
        unique=False,
        schema="routing",
        postgresql_where=sa.text("notified_at IS NULL"),
    )
    op.create_table(
        "appeal_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("appeal_id", sa.UUID(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "kind",
            sa.Text(),
            nullable=False,
            comment="sent, delivered, delivery_failed, bounced, registered, assigned, answered, forwarded, extended, "
            "reminded, overdue, escalated, note …",
        ),
        sa.Column("actor_user_id", sa.UUID(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(["appeal_id"], ["routing.appeals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="routing",
    )
    op.create_index("appeal_events_appeal_idx", "appeal_events", ["appeal_id", "id"], unique=False, schema="routing")
    op.create_table(
        "appeal_notes",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("appeal_id", sa.UUID(), nullable=False),
        sa.Column("author_user_id", sa.UUID(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["appeal_id"], ["routing.appeals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="routing",
    )
    op.create_index(
        "appeal_notes_appeal_idx", "appeal_notes", ["appeal_id", "created_at"], unique=False, schema="routing"
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("appeal_id", sa.UUID(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False, comment="cabinet or email."),
        sa.Column(
            "status", sa.Text(), server_default="pending", nullable=False, comment="pending, sent, failed, bounced."
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("external_id", sa.Text(), nullable=True, comment="e.g. the e-mail's Message-ID."),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'bounced')", name="deliveries_status_check"),
        sa.ForeignKeyConstraint(["appeal_id"], ["routing.appeals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="routing",
    )
    op.create_index("deliveries_appeal_idx", "deliveries", ["appeal_id"], unique=False, schema="routing")
    op.create_index(
        "deliveries_pending_idx",
        "deliveries",
        ["next_attempt_at"],
        unique=False,
        schema="routing",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "appeal_attachments",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("appeal_id", sa.UUID(), nullable=False),
        sa.Column("answer_id", sa.UUID(), nullable=True),
        sa.Column(
            "url", sa.Text(), nullable=True, comment="An external URL, or none for an uploaded file kept in `content`."
        ),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("url IS NOT NULL OR content IS NOT NULL", name="appeal_attachments_source_check"),
        sa.ForeignKeyConstraint(["answer_id"], ["routing.appeal_answers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["appeal_id"], ["routing.appeals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="routing",
    )
    op.create_index(
        "appeal_attachments_appeal_idx", "appeal_attachments", ["appeal_id"], unique=False, schema="routing"
    )


def downgrade() -> None:
    op.drop_index("appeal_attachments_appeal_idx", table_name="appeal_attachments", schema="routing")
    op.drop_table("appeal_attachments", schema="routing")
    op.drop_index(
        "deliveries_pending_idx",
        table_name="deliveries",
        schema="routing",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("deliveries_appeal_idx", table_name="deliveries", schema="routing")
    op.drop_table("deliveries", schema="routing")
    op.drop_index("appeal_notes_appeal_idx", table_name="appeal_notes", schema="routing")
    op.drop_table("appeal_notes", schema="routing")
    op.drop_index("appeal_events_appeal_idx", table_name="appeal_events", schema="routing")
    op.drop_table("appeal_events", schema="routing")
    op.drop_index(
        "appeal_deadline_marks_unnotified_idx",
        table_name="appeal_deadline_marks",
        schema="routing",
        postgresql_where=sa.text("notified_at IS NULL"),
    )
    op.drop_table("appeal_deadline_marks", schema="routing")
    op.drop_index("appeal_applicants_user_idx", table_name="appeal_applicants", schema="routing")
    op.drop_table("appeal_applicants", schema="routing")
    op.drop_index("appeal_answers_appeal_key", table_name="appeal_answers", schema="routing")
    op.drop_table("appeal_answers", schema="routing")
    op.drop_table("supervisors", schema="routing")
    op.drop_index("response_templates_authority_idx", table_name="response_templates", schema="routing")
    op.drop_table("response_templates", schema="routing")
    op.drop_index("officials_authority_idx", table_name="officials", schema="routing")
    op.drop_table("officials", schema="routing")
    op.drop_index("official_invitations_token_key", table_name="official_invitations", schema="routing")
    op.drop_index("official_invitations_authority_idx", table_name="official_invitations", schema="routing")
    op.drop_table("official_invitations", schema="routing")
    op.drop_index("jurisdiction_rules_category_idx", table_name="jurisdiction_rules", schema="routing")
    op.drop_table("jurisdiction_rules", schema="routing")
    op.drop_index("appeals_reply_token_key", table_name="appeals", schema="routing")
    op.drop_index(
        "appeals_registration_due_idx",
        table_name="appeals",
        schema="routing",
        postgresql_where=sa.text("status = 'sent'"),
    )
    op.drop_index("appeals_problem_idx", table_name="appeals", schema="routing")
    op.drop_index("appeals_authority_queue_idx", table_name="appeals", schema="routing")
    op.drop_index(
        "appeals_answer_due_idx",
        table_name="appeals",
        schema="routing",
        postgresql_where=sa.text("status IN ('registered', 'in_work')"),
    )
    op.drop_table("appeals", schema="routing")
    op.drop_index("authorities_parent_idx", table_name="authorities", schema="routing")
    op.drop_index(
        "authorities_administration_of_territory_key",
        table_name="authorities",
        schema="routing",
        postgresql_where=sa.text("kind = 'administration'"),
    )
    op.drop_table("authorities", schema="routing")
    op.drop_index("territories_parent_idx", table_name="territories", schema="routing")
    op.drop_index("territories_oktmo_key", table_name="territories", schema="routing")
    op.drop_index("territories_boundary_gist", table_name="territories", schema="routing", postgresql_using="gist")
    op.drop_table("territories", schema="routing")
    op.drop_index("problems_author_idx", table_name="problems", schema="routing")
    op.drop_table("problems", schema="routing")
