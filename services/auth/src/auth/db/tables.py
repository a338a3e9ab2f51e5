"""The auth service's own tables, in schema ``auth``. Secrets (passwords, client secrets, codes, refresh
tokens, e-mail links, session ids) are stored only as hashes; personal data only here."""

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

SCHEMA = "auth"
metadata = MetaData(schema=SCHEMA)

_now = func.now()


def _created() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now)


users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("email", Text, comment="Lower-cased; absent for a federated account whose provider gave none."),
    Column("email_verified_at", DateTime(timezone=True)),
    Column(
        "password_hash",
        Text,
        comment="argon2id; absent for an account that only signs in through a federated provider.",
    ),
    Column("full_name", Text, nullable=False, server_default=""),
    Column("phone", Text),
    Column("home_territory", Text, comment="OKTMO code of the user's home territory, optional."),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("erased_at", DateTime(timezone=True)),
    Index("users_email_key", "email", unique=True, postgresql_where=text("email IS NOT NULL")),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", UUID(as_uuid=True), ForeignKey("auth.users.id", ondelete="CASCADE"), nullable=False),
    Column("role", Text, nullable=False),
    Column("granted_by", UUID(as_uuid=True)),
    Column("granted_at", DateTime(timezone=True), nullable=False, server_default=_now),
    PrimaryKeyConstraint("user_id", "role"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column(
        "actor_id",
        UUID(as_uuid=True),
        comment="Who did it (a user, or none for the system); ids only, never personal data.",
    ),
    Column("subject_id", UUID(as_uuid=True)),
    Column(
        "action",
        Text,
        nullable=False,
        comment="e.g. role.granted, role.revoked, login.locked, account.erased, identity.linked.",
    ),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Index("audit_log_subject_idx", "subject_id", "at"),
)

consent_documents = Table(
    "consent_documents",
    metadata,
    Column("version", Text, primary_key=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False, server_default=_now),
)

consents = Table(
    "consents",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), ForeignKey("auth.users.id", ondelete="CASCADE"), nullable=False),
    Column("document_version", Text, ForeignKey("auth.consent_documents.version"), nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("channel", Text, nullable=False, comment="Where it was given: web, widget, mobile, dobro.ru."),
    Column("withdrawn_at", DateTime(timezone=True)),
)

email_tokens = Table(
    "email_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("user_id", UUID(as_uuid=True), ForeignKey("auth.users.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", Text, nullable=False, comment="confirm_email or reset_password."),
    Column("email", Text, nullable=False),
    _created(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    CheckConstraint("purpose IN ('confirm_email', 'reset_password')", name="email_tokens_purpose"),
)

login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", Text, primary_key=True, comment="``account:<user id>`` or ``ip:<address>``."),
    Column("failures", Integer, nullable=False, server_default=text("0")),
    Column("window_started_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("locked_until", DateTime(timezone=True)),
)

browser_sessions = Table(
    "browser_sessions",
    metadata,
    Column("id_hash", Text, primary_key=True),
    Column("user_id", UUID(as_uuid=True), ForeignKey("auth.users.id", ondelete="CASCADE"), nullable=False),
    Column("auth_time", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False, comment="web, mobile, widget, partner, resource_server."),
    Column("secret_hash", Text, comment="argon2id of the secret; none for a public client."),
    Column("redirect_uris", ARRAY(Text), nullable=False, server_default="{}"),
    Column("post_logout_redirect_uris", ARRAY(Text), nullable=False, server_default="{}"),
    Column(
        "allowed_origins",
        ARRAY(Text),
        nullable=False,
        server_default="{}",
        comment="CORS and frame-ancestors allow-list (a widget's municipal site, the web client).",
    ),
    Column("grant_types", ARRAY(Text), nullable=False),
    Column("scopes", ARRAY(Text), nullable=False, server_default="{}"),
    Column(
        "audiences",
        ARRAY(Text),
        nullable=False,
        server_default="{}",
        comment="Services this client's tokens may be used at; empty means the default set.",
    ),
    Column("can_introspect", Boolean, nullable=False, server_default=text("false")),
    _created(),
    Column("disabled_at", DateTime(timezone=True)),
    CheckConstraint("kind IN ('web', 'mobile', 'widget', 'partner', 'resource_server')", name="oauth_clients_kind"),
)

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", Text, primary_key=True),
    Column("client_id", Text, ForeignKey("auth.oauth_clients.client_id", ondelete="CASCADE"), nullable=False),
    Column("user_id", UUID(as_uuid=True), ForeignKey("auth.users.id", ondelete="CASCADE"), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("nonce", Text),
    Column("code_challenge", Text, nullable=False),
    Column("auth_time", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column(
        "token_family",
        UUID(as_uuid=True),
        comment="The refresh-token family the code's exchange started: revoked if the code is replayed.",
    ),
    Index("authorization_codes_client_nonce_idx", "client_id", "nonce", postgresql_where=text("nonce IS NOT NULL")),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("family_id", UUID(as_uuid=True), nullable=False),
    Column("client_id", Text, ForeignKey("auth.oauth_clients.client_id", ondelete="CASCADE"), nullable=False),
    Column("user_id", UUID(as_uuid=True), ForeignKey("auth.users.id", ondelete="CASCADE"), nullable=False),
    Column("scope", Text, nullable=False),
    Column("auth_time", DateTime(timezone=True), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column(
        "used_at",
        DateTime(timezone=True),
        comment="Set when rotated: presenting it again is reuse, and revokes the family.",
    ),
    Column("revoked_at", DateTime(timezone=True)),
    Index("refresh_tokens_family_idx", "family_id"),
)

revoked_access_tokens = Table(
    "revoked_access_tokens",
    metadata,
    Column("jti", Text, primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", Text, primary_key=True),
    Column("alg", Text, nullable=False),
    Column("private_pem", Text, nullable=False),
    Column("public_jwk", JSONB, nullable=False),
    _created(),
    Column(
        "retired_at", DateTime(timezone=True), comment="No longer signs; still published until its last token expires."
    ),
    Column("unpublish_after", DateTime(timezone=True)),
)

identity_providers = Table(
    "identity_providers",
    metadata,
    Column("slug", Text, primary_key=True),
    Column("display_name", Text, nullable=False),
    Column(
        "settings",
        JSONB,
        nullable=False,
        comment="Discovery URL or endpoints, client id, scopes, claims mapping; the secret is in the environment.",
    ),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
)

external_identities = Table(
    "external_identities",
    metadata,
    Column("provider", Text, ForeignKey("auth.identity_providers.slug"), nullable=False),
    Column("subject", Text, nullable=False),
    Column("user_id", UUID(as_uuid=True), ForeignKey("auth.users.id", ondelete="CASCADE"), nullable=False),
    Column(
        "claims",
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="Mapped claims of the last login (e-mail, name, volunteer id); exported and erased with the user.",
    ),
    Column("linked_at", DateTime(timezone=True), nullable=False, server_default=_now),
    PrimaryKeyConstraint("provider", "subject"),
    Index("external_identities_user_idx", "user_id"),
)
