"""Login throttling per account and per client address (table ``login_throttle``), with audited lockouts.

Keys: ``account:<user id>`` for an account; ``email:<sha256>`` for an e-mail with no account (so that a
lock does not reveal whether an account exists); ``ip:<sha256>`` for a client address. Addresses and
e-mails are personal data: only their digests are stored, and audit rows carry ids and digests only.
The rule itself (how many failures, how long a lock) is :mod:`auth.domain.accounts`.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from auth.db.tables import login_throttle
from auth.db.users import audit
from auth.domain.accounts import (
    ACCOUNT_THROTTLE,
    IP_THROTTLE,
    ThrottlePolicy,
    ThrottleState,
    fresh_throttle_state,
    register_failure,
)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class ThrottleKeys:
    """Whom a sign-in attempt counts against."""

    account: str
    ip: str
    user_id: uuid.UUID | None
    ip_hash: str

    @classmethod
    def of(cls, *, user_id: uuid.UUID | None, email: str, ip: str) -> ThrottleKeys:
        account = f"account:{user_id}" if user_id else f"email:{_digest(email.strip().lower())}"
        ip_hash = _digest(ip)
        return cls(account=account, ip=f"ip:{ip_hash}", user_id=user_id, ip_hash=ip_hash)


@dataclass(frozen=True)
class Locks:
    account: bool
    ip: bool

    @property
    def any(self) -> bool:
        return self.account or self.ip


async def _states(session: AsyncSession, keys: list[str], *, for_update: bool) -> dict[str, ThrottleState]:
    # Always in key order, so that two attempts locking the same rows cannot deadlock.
    query = select(login_throttle).where(login_throttle.c.key.in_(keys)).order_by(login_throttle.c.key)
    if for_update:
        query = query.with_for_update()
    rows = (await session.execute(query)).all()
    return {row.key: ThrottleState(row.failures, row.window_started_at, row.locked_until) for row in rows}


async def current_locks(session: AsyncSession, keys: ThrottleKeys, now: datetime, *, for_update: bool = False) -> Locks:
    """Which of the keys are locked now; ``for_update`` serialises concurrent attempts on the same keys.

    To serialise, the rows must exist: ``FOR UPDATE`` locks nothing where there is no row yet, and parallel
    first guesses would all pass the check before any of them counted (and a right password among them would
    sign in although the others had just locked the account)."""
    if for_update:
        await session.execute(
            insert(login_throttle)
            .values([{"key": key, "window_started_at": now} for key in sorted((keys.account, keys.ip))])
            .on_conflict_do_nothing()
        )
    states = await _states(session, [keys.account, keys.ip], for_update=for_update)
    account = states.get(keys.account)
    ip = states.get(keys.ip)
    return Locks(account=bool(account and account.locked(now)), ip=bool(ip and ip.locked(now)))


async def _fail(session: AsyncSession, key: str, now: datetime, policy: ThrottlePolicy) -> bool:
    await session.execute(insert(login_throttle).values(key=key, window_started_at=now).on_conflict_do_nothing())
    state = (await _states(session, [key], for_update=True)).get(key) or fresh_throttle_state(now)
    new_state, locked_now = register_failure(state, now, policy)
    await session.execute(
        update(login_throttle)
        .where(login_throttle.c.key == key)
        .values(
            failures=new_state.failures,
            window_started_at=new_state.window_started_at,
            locked_until=new_state.locked_until,
        )
    )
    return locked_now


async def record_failure(session: AsyncSession, keys: ThrottleKeys, now: datetime) -> Locks:
    """Count a failed sign-in against the account and the address; audit a lock the moment it starts.

    Each row is locked (``FOR UPDATE``) while it is counted, so concurrent failures all count.
    """
    account_locked = await _fail(session, keys.account, now, ACCOUNT_THROTTLE)
    ip_locked = await _fail(session, keys.ip, now, IP_THROTTLE)
    if account_locked:
        details: dict[str, object] = {
            "scope": "account",
            "until_minutes": int(ACCOUNT_THROTTLE.lockout.total_seconds() // 60),
        }
        if keys.user_id is None:
            details["scope"] = "unknown_account"
        await audit(session, "login.locked", actor_id=None, subject_id=keys.user_id, details=details)
    if ip_locked:
        await audit(
            session,
            "login.locked",
            actor_id=None,
            subject_id=None,
            details={
                "scope": "ip",
                "ip_sha256": keys.ip_hash,
                "until_minutes": int(IP_THROTTLE.lockout.total_seconds() // 60),
            },
        )
    return Locks(account=account_locked, ip=ip_locked)


async def record_success(session: AsyncSession, keys: ThrottleKeys) -> None:
    """A right password clears the account's count (not the address's: one good account must not let an
    address keep guessing others)."""
    await session.execute(delete(login_throttle).where(login_throttle.c.key == keys.account))


async def clear_account(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Lift an account's lock, e.g. once its owner has proved themselves through a password-reset link."""
    await session.execute(delete(login_throttle).where(login_throttle.c.key == f"account:{user_id}"))


STALE_AFTER = timedelta(days=1)
"""Far beyond any window or lockout: such a row no longer changes any decision."""


async def purge_stale(session: AsyncSession, now: datetime) -> int:
    """Forget counters whose window and lockout are long over (a periodic job of the worker)."""
    cutoff = now - STALE_AFTER
    result = await session.execute(
        delete(login_throttle).where(
            login_throttle.c.window_started_at < cutoff,
            or_(login_throttle.c.locked_until.is_(None), login_throttle.c.locked_until < cutoff),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
