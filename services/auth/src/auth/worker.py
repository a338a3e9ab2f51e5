"""The auth service's background process: ``python -m auth.worker``."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from auth.db.oauth import purge_expired
from auth.events.consumed import SUBSCRIPTIONS
from auth.settings import AuthSettings
from auth.usecases import throttle
from servicekit.worker import main as run


async def purge_expired_grants(session: AsyncSession) -> int:
    """Expired authorization codes, refresh tokens and access-token revocations serve no one."""
    return await purge_expired(session, now=datetime.now(UTC))


async def purge_stale_login_counters(session: AsyncSession) -> int:
    return await throttle.purge_stale(session, datetime.now(UTC))


def main() -> None:
    run(AuthSettings(), SUBSCRIPTIONS, housekeeping=[purge_expired_grants, purge_stale_login_counters])


if __name__ == "__main__":
    main()
