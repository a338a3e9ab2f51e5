"""accounts, consents, OAuth clients, tokens, keys, federation

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 17:35:14.031441
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "actor_id",
            sa.UUID(),
            nullable=True,
            comment="Who did it (a user, or none for the system); ids only, never personal data.",
        ),
        sa.Column("subject_id", sa.UUID(), nullable=True),
        sa.Column(
            "action",
            sa.Text(),
            nullable=False,
            comment="e.g. role.granted, role.revoked, login.locked, account.erased, identity.linked.",
        ),
        sa.Column(
            "details", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="auth",
    )
    op.create_index("audit_log_subject_idx", "audit_log", ["subject_id", "at"], unique=False, schema="auth")
    op.create_table(
        "consent_documents",
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("version"),
        schema="auth",
    )
    op.create_table(
        "identity_providers",
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column(
            "settings",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="Discovery URL or endpoints, client id, scopes, claims mapping; the secret is in the environment.",
        ),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("slug"),
        schema="auth",
    )
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.Text(), nullable=False, comment="``account:<user id>`` or ``ip:<address>``."),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
        schema="auth",
    )
    op.create_table(
        "oauth_clients",
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False, comment="web, mobile, widget, partner, resource_server."),
        sa.Column("secret_hash", sa.Text(), nullable=True, comment="argon2id of the secret; none for a public client."),
        sa.Column("redirect_uris", sa.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("post_logout_redirect_uris", sa.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column(
            "allowed_origins",
            sa.ARRAY(sa.Text()),
            server_default="{}",
            nullable=False,
            comment="CORS and frame-ancestors allow-list (a widget's municipal site, the web client).",
        ),
        sa.Column("grant_types", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("scopes", sa.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column(
            "audiences",
            sa.ARRAY(sa.Text()),
            server_default="{}",
            nullable=False,
            comment="Services this client's tokens may be used at; empty means the default set.",
        ),
        sa.Column("can_introspect", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('web', 'mobile', 'widget', 'partner', 'resource_server')", name="oauth_clients_kind"
        ),
        sa.PrimaryKeyConstraint("client_id"),
        schema="auth",
    )
    op.create_table(
        "revoked_access_tokens",
        sa.Column("jti", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
        schema="auth",
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.Text(), nullable=False),
        sa.Column("alg", sa.Text(), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("public_jwk", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "retired_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="No longer signs; still published until its last token expires.",
        ),
        sa.Column("unpublish_after", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid"),
        schema="auth",
    )
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "email",
            sa.Text(),
            nullable=True,
            comment="Lower-cased; absent for a federated account whose provider gave none.",
        ),
        sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "password_hash",
            sa.Text(),
            nullable=True,
            comment="argon2id; absent for an account that only signs in through a federated provider.",
        ),
        sa.Column("full_name", sa.Text(), server_default="", nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column(
            "home_territory", sa.Text(), nullable=True, comment="OKTMO code of the user's home territory, optional."
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema="auth",
    )
    op.create_index(
        "users_email_key", "users", ["email"], unique=True, schema="auth", postgresql_where=sa.text("email IS NOT NULL")
    )
    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("nonce", sa.Text(), nullable=True),
        sa.Column("code_challenge", sa.Text(), nullable=False),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "token_family",
            sa.UUID(),
            nullable=True,
            comment="The refresh-token family the code's exchange started: revoked if the code is replayed.",
        ),
        sa.ForeignKeyConstraint(["client_id"], ["auth.oauth_clients.client_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("code_hash"),
        schema="auth",
    )
    op.create_table(
        "browser_sessions",
        sa.Column("id_hash", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash"),
        schema="auth",
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("document_version", sa.Text(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False, comment="Where it was given: web, widget, mobile, dobro.ru."),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_version"],
            ["auth.consent_documents.version"],
        ),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="auth",
    )
    op.create_table(
        "email_tokens",
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False, comment="confirm_email or reset_password."),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("purpose IN ('confirm_email', 'reset_password')", name="email_tokens_purpose"),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
        schema="auth",
    )
    op.create_table(
        "external_identities",
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(
            "claims",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Mapped claims of the last login (e-mail, name, volunteer id); exported and erased with the user.",
        ),
        sa.Column("linked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider"],
            ["auth.identity_providers.slug"],
        ),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("provider", "subject"),
        schema="auth",
    )
    op.create_index("external_identities_user_idx", "external_identities", ["user_id"], unique=False, schema="auth")
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("family_id", sa.UUID(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "used_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Set when rotated: presenting it again is reuse, and revokes the family.",
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["auth.oauth_clients.client_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
        schema="auth",
    )
    op.create_index("refresh_tokens_family_idx", "refresh_tokens", ["family_id"], unique=False, schema="auth")
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("granted_by", sa.UUID(), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "role"),
        schema="auth",
    )


def downgrade() -> None:
    op.drop_table("user_roles", schema="auth")
    op.drop_index("refresh_tokens_family_idx", table_name="refresh_tokens", schema="auth")
    op.drop_table("refresh_tokens", schema="auth")
    op.drop_index("external_identities_user_idx", table_name="external_identities", schema="auth")
    op.drop_table("external_identities", schema="auth")
    op.drop_table("email_tokens", schema="auth")
    op.drop_table("consents", schema="auth")
    op.drop_table("browser_sessions", schema="auth")
    op.drop_table("authorization_codes", schema="auth")
    op.drop_index("users_email_key", table_name="users", schema="auth", postgresql_where=sa.text("email IS NOT NULL"))
    op.drop_table("users", schema="auth")
    op.drop_table("signing_keys", schema="auth")
    op.drop_table("revoked_access_tokens", schema="auth")
    op.drop_table("oauth_clients", schema="auth")
    op.drop_table("login_throttle", schema="auth")
    op.drop_table("identity_providers", schema="auth")
    op.drop_table("consent_documents", schema="auth")
    op.drop_index("audit_log_subject_idx", table_name="audit_log", schema="auth")
    op.drop_table("audit_log", schema="auth")
