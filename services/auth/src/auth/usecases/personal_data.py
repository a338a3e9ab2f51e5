"""The signed-in user's own account and their rights under 152-FZ: see it, download all of it, erase it.

Erasure asks for proof that the person at the keyboard is the account's owner right now: their current
password, or a sign-in within the last :data:`REAUTH_WINDOW`. It then runs in ONE unit of work: the users row
is anonymised, everything else personal is deleted, every session and refresh token is revoked, an
``account.erased`` audit line (ids only) is written and ``auth.user.erased.v1`` is recorded so that every
service anonymises what it holds. Either all of it happens, or none.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from auth.db import personal_data as pd_db
from auth.db import users as users_db
from auth.domain.roles import effective_roles
from auth.domain.secrets import verify_password
from servicekit.app import ServiceContext
from servicekit.events import new_event

USER_ERASED = "auth.user.erased.v1"
EXPORT_FORMAT = "ru.gorod.auth.personal-data.v1"

REAUTH_WINDOW = timedelta(minutes=10)
"""How recent a sign-in must be to erase an account without typing the password."""
CLOCK_SKEW = timedelta(minutes=1)
MAX_WRONG_PASSWORDS = 5
WRONG_PASSWORD_WINDOW = timedelta(minutes=15)
"""A stolen session must not become a password-guessing oracle: after this many wrong passwords in this
window, erasure is refused without checking the password."""


class AccountGone(Exception):
    """The account does not exist or has been erased."""


class ErasureRefused(Exception):
    """Re-authentication failed; ``str(error)`` is a Russian sentence for the user. Nothing was changed."""


class TooManyAttempts(ErasureRefused):
    pass


@dataclass(frozen=True)
class Reauthentication:
    """What the caller offers as proof of being the owner right now."""

    via: Literal["session", "bearer"]
    auth_time: datetime | None
    """When the browser session or the access token's sign-in happened."""
    password: str | None = None
    token_jti: str | None = None
    token_expires_at: datetime | None = None
    """The access token used for the request, to deny-list it with the account."""


def signed_in_recently(auth_time: datetime | None, now: datetime) -> bool:
    return auth_time is not None and -CLOCK_SKEW <= now - auth_time <= REAUTH_WINDOW


def needs_password(proof: Reauthentication, *, has_password: bool) -> bool:
    """The rule: a password was offered for an account that has one, or a browser session of such an account
    asks (its cookie may be hours old and left on a shared computer). Otherwise a recent sign-in is the proof:
    an account that signs in only through DOBRO.RU has no password to type, and an access token carries the
    time its sign-in happened."""
    return has_password and (proof.password is not None or proof.via == "session")


# --- the profile -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    id: uuid.UUID
    email: str | None
    email_verified: bool
    name: str
    phone: str | None
    home_territory: str | None
    roles: list[str]
    created_at: datetime


async def profile(kit: ServiceContext, user_id: uuid.UUID) -> Profile:
    async with kit.unit_of_work() as uow:
        row = await pd_db.live_account(uow.session, user_id)
        if row is None:
            raise AccountGone(str(user_id))
        roles = await users_db.roles_of(uow.session, user_id)
    return Profile(
        id=row.id,
        email=row.email,
        email_verified=row.email_verified_at is not None,
        name=row.full_name,
        phone=row.phone,
        home_territory=row.home_territory,
        roles=sorted(roles),
        created_at=row.created_at,
    )


# --- the export ------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _by(actor_id: uuid.UUID | None, user_id: uuid.UUID) -> str:
    """Who did it, without naming another person: the export holds nothing of other people."""
    if actor_id is None:
        return "system"
    return "self" if actor_id == user_id else "staff"


async def export(kit: ServiceContext, user_id: uuid.UUID) -> dict[str, Any]:
    """Everything auth holds about the user, as JSON-ready data (152-FZ art. 14). Secrets are not data about
    the person and are left out: the password hash (``has_password`` says whether there is one), and the
    hashes of session ids, refresh tokens, codes and e-mail links. The export itself is audited."""
    now = datetime.now(UTC)
    async with kit.unit_of_work() as uow:
        session = uow.session
        account = await pd_db.live_account(session, user_id)
        if account is None:
            raise AccountGone(str(user_id))
        grants = await pd_db.role_grants(session, user_id)
        consents = await pd_db.consents_of(session, user_id)
        identities = await pd_db.external_identities_of(session, user_id)
        sessions = await pd_db.active_sessions_of(session, user_id, now=now)
        refresh = await pd_db.refresh_tokens_of(session, user_id)
        codes = await pd_db.authorization_codes_of(session, user_id)
        links = await pd_db.email_tokens_of(session, user_id)
        throttle = await pd_db.sign_in_throttle_of(session, user_id)
        audit = await pd_db.audit_about(session, user_id)
        await users_db.audit(session, "account.exported", actor_id=user_id, subject_id=user_id)
        await uow.commit()

    return {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        "account": {
            "id": str(account.id),
            "email": account.email,
            "email_verified_at": _iso(account.email_verified_at),
            "name": account.full_name,
            "phone": account.phone,
            "home_territory": account.home_territory,
            "has_password": account.password_hash is not None,
            "created_at": _iso(account.created_at),
            "updated_at": _iso(account.updated_at),
        },
        "roles": sorted(effective_roles({row.role for row in grants})),
        "role_grants": [
            {"role": row.role, "granted_at": _iso(row.granted_at), "granted_by": _by(row.granted_by, user_id)}
            for row in grants
        ],
        "consents": [
            {
                "document_version": row.document_version,
                "document_title": row.document_title,
                "accepted_at": _iso(row.accepted_at),
                "channel": row.channel,
                "withdrawn_at": _iso(row.withdrawn_at),
            }
            for row in consents
        ],
        "external_identities": [
            {"provider": row.provider, "subject": row.subject, "claims": row.claims, "linked_at": _iso(row.linked_at)}
            for row in identities
        ],
        "sessions": [{"signed_in_at": _iso(row.auth_time), "expires_at": _iso(row.expires_at)} for row in sessions],
        "oauth_grants": [
            {
                "client_id": row.client_id,
                "client_name": row.client_name,
                "scope": row.scope,
                "signed_in_at": _iso(row.auth_time),
                "issued_at": _iso(row.issued_at),
                "expires_at": _iso(row.expires_at),
                "rotated_at": _iso(row.used_at),
                "revoked_at": _iso(row.revoked_at),
            }
            for row in refresh
        ],
        "authorization_codes": [
            {
                "client_id": row.client_id,
                "redirect_uri": row.redirect_uri,
                "scope": row.scope,
                "signed_in_at": _iso(row.auth_time),
                "expires_at": _iso(row.expires_at),
                "used_at": _iso(row.used_at),
            }
            for row in codes
        ],
        "email_links": [
            {
                "purpose": row.purpose,
                "email": row.email,
                "created_at": _iso(row.created_at),
                "expires_at": _iso(row.expires_at),
                "used_at": _iso(row.used_at),
            }
            for row in links
        ],
        "sign_in_throttle": None
        if throttle is None
        else {
            "failures": throttle.failures,
            "window_started_at": _iso(throttle.window_started_at),
            "locked_until": _iso(throttle.locked_until),
        },
        "audit": [
            {"at": _iso(row.at), "action": row.action, "by": _by(row.actor_id, user_id), "details": row.details}
            for row in audit
        ],
    }


# --- erasure ---------------------------------------------------------------------------------------


async def erase(kit: ServiceContext, user_id: uuid.UUID, proof: Reauthentication) -> datetime:
    """Erase the account if ``proof`` holds; returns the erasure time. Raises :class:`AccountGone`,
    :class:`ErasureRefused` (nothing changed) or :class:`TooManyAttempts`."""
    async with kit.unit_of_work() as uow:
        # The row lock makes two concurrent erasures (or an erasure and a role change) take turns.
        account = await pd_db.live_account(uow.session, user_id, for_update=True)
        if account is None:
            raise AccountGone(str(user_id))
        now = datetime.now(UTC)
        if needs_password(proof, has_password=account.password_hash is not None):
            if not proof.password:
                raise ErasureRefused("Чтобы удалить учётную запись, введите текущий пароль.")
            refused = await pd_db.count_audit_since(
                uow.session, subject_id=user_id, action="account.erasure_refused", since=now - WRONG_PASSWORD_WINDOW
            )
            if refused >= MAX_WRONG_PASSWORDS:
                raise TooManyAttempts("Слишком много неверных паролей. Попробуйте через 15 минут.")
            if not await asyncio.to_thread(verify_password, proof.password, account.password_hash):
                await users_db.audit(
                    uow.session,
                    "account.erasure_refused",
                    actor_id=user_id,
                    subject_id=user_id,
                    details={"reason": "wrong_password"},
                )
                await uow.commit()  # the refusal is recorded; nothing else was touched
                raise ErasureRefused("Неверный пароль. Учётная запись не удалена.")
        elif not signed_in_recently(proof.auth_time, now):
            raise ErasureRefused(
                "Для удаления учётной записи нужно войти заново: вход должен быть не раньше чем 10 минут назад."
            )

        await pd_db.erase_account(uow.session, user_id, now=now)
        if proof.token_jti and proof.token_expires_at is not None:
            await pd_db.revoke_access_token(uow.session, proof.token_jti, expires_at=proof.token_expires_at)
        await users_db.audit(
            uow.session, "account.erased", actor_id=user_id, subject_id=user_id, details={"via": proof.via}
        )
        uow.record(
            new_event(
                USER_ERASED,
                {"user_id": str(user_id), "erased_at": now.isoformat()},
                source="auth",
                subject=str(user_id),
            )
        )
        await uow.commit()
    return now
