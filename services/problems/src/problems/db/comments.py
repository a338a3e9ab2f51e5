"""Comments and their flags: SQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from problems.db.tables import comment_flags, comments, problems


async def insert_comment(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(comments).values(**values))
    await session.execute(
        update(problems)
        .where(problems.c.id == values["problem_id"])
        .values(comments_count=problems.c.comments_count + 1)
    )


async def comment(session: AsyncSession, comment_id: uuid.UUID, *, for_update: bool = False) -> Any:
    query = select(comments).where(comments.c.id == comment_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def list_comments(
    session: AsyncSession,
    problem_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    include_hidden: bool,
) -> list[Any]:
    query = (
        select(comments)
        .where(comments.c.problem_id == problem_id)
        .order_by(comments.c.created_at, comments.c.id)
        .limit(limit)
    )
    if not include_hidden:
        query = query.where(comments.c.hidden.is_(False))
    if after is not None:
        query = query.where(tuple_(comments.c.created_at, comments.c.id) > tuple_(*after))
    return list((await session.execute(query)).all())


async def flagged_comments(session: AsyncSession, *, after: tuple[int, uuid.UUID] | None, limit: int) -> list[Any]:
    query = (
        select(comments)
        .where(comments.c.flags_count > 0, comments.c.hidden.is_(False))
        .order_by(comments.c.flags_count.desc(), comments.c.id)
        .limit(limit)
    )
    if after is not None:
        flags, last_id = after
        query = query.where(
            (comments.c.flags_count < flags) | ((comments.c.flags_count == flags) & (comments.c.id > last_id))
        )
    return list((await session.execute(query)).all())


async def update_comment(session: AsyncSession, comment_id: uuid.UUID, values: dict[str, Any]) -> None:
    await session.execute(update(comments).where(comments.c.id == comment_id).values(**values))


async def add_flag(session: AsyncSession, comment_id: uuid.UUID, user_id: uuid.UUID, reason: str) -> bool:
    inserted = await session.execute(
        pg_insert(comment_flags)
        .values(comment_id=comment_id, user_id=user_id, reason=reason)
        .on_conflict_do_nothing()
        .returning(comment_flags.c.user_id)
    )
    if inserted.first() is None:
        return False
    await session.execute(
        update(comments).where(comments.c.id == comment_id).values(flags_count=comments.c.flags_count + 1)
    )
    return True


async def recount_comments(session: AsyncSession, problem_id: uuid.UUID) -> None:
    count = (
        select(func.count())
        .select_from(comments)
        .where(comments.c.problem_id == problem_id, comments.c.hidden.is_(False))
        .scalar_subquery()
    )
    await session.execute(update(problems).where(problems.c.id == problem_id).values(comments_count=count))
