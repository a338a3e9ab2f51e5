"""Erasing a user's personal data (152-FZ): SQL."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from problems.db.tables import applicants, comment_flags, comments, photos, problems, supports


async def erase_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, int]:
    """Delete the user's applicant data, flags and supports; cut the user's id from problems and comments.

    Support counts stay (the support happened); problems stay, shown as anonymous."""

    async def run(statement: object) -> int:
        result = await session.execute(statement)  # type: ignore[call-overload]
        return int(getattr(result, "rowcount", 0) or 0)

    counts = {
        "applicants": await run(delete(applicants).where(applicants.c.user_id == user_id)),
        "problems": await run(
            update(problems).where(problems.c.author_id == user_id).values(author_id=None, anonymous=True)
        ),
        "comments": await run(
            update(comments).where(comments.c.author_id == user_id).values(author_id=None, author_name=None)
        ),
        "flags": await run(delete(comment_flags).where(comment_flags.c.user_id == user_id)),
        "supports": await run(delete(supports).where(supports.c.user_id == user_id)),
        "photos": await run(update(photos).where(photos.c.owner_id == str(user_id)).values(owner_id="erased")),
    }
    return counts


async def anonymise_problem(session: AsyncSession, problem_id: uuid.UUID) -> None:
    """The author hides their name on one report: no display name kept, shown as anonymous."""
    await session.execute(update(problems).where(problems.c.id == problem_id).values(anonymous=True))
    await session.execute(update(applicants).where(applicants.c.problem_id == problem_id).values(display_name=None))
