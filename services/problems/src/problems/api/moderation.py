"""Moderators' API: ``/api/v1/problems/moderation/...``. Who may call: role moderator (others 403, none 401)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from problems.api.deps import Moderator, Settings, Uow
from problems.api.models import Comment, Problem, ProblemSummary
from problems.domain.reports import MAX_DESCRIPTION
from problems.usecases import moderation as usecases
from servicekit.http.pagination import Page, PageRequest, page_request

router = APIRouter(prefix="/api/v1/problems/moderation", tags=["moderation"])
Pages = Annotated[PageRequest, Depends(page_request)]


class QueueItem(ProblemSummary):
    original: dict[str, Any] | None = None


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=1000, description="Shown to the author.")


class EditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=500)
    title: str | None = Field(default=None, min_length=3, max_length=200)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    extra: dict[str, Any] | None = None
    reason: str | None = Field(default=None, max_length=1000)


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: uuid.UUID = Field(description="The surviving problem.")
    reason: str | None = Field(default=None, max_length=1000)


class HideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hidden: bool = True
    reason: str | None = Field(default=None, max_length=1000)


@router.get("/queue", response_model=Page[QueueItem])
async def queue(uow: Uow, settings: Settings, _: Moderator, page: Pages) -> Any:
    """Problems waiting for moderation, oldest first."""
    async with uow:
        return await usecases.queue(uow, settings, page)


@router.post("/{problem_id:uuid}/approve", response_model=Problem)
async def approve(uow: Uow, settings: Settings, problem_id: uuid.UUID, moderator: Moderator) -> Any:
    """Publish a problem waiting for moderation (routing then turns it into an appeal)."""
    async with uow:
        return await usecases.approve(uow, settings, problem_id, moderator)


@router.post("/{problem_id:uuid}/reject", response_model=Problem)
async def reject(uow: Uow, settings: Settings, problem_id: uuid.UUID, moderator: Moderator, body: RejectIn) -> Any:
    """Reject a problem waiting for moderation, with a reason for the author."""
    async with uow:
        return await usecases.reject(uow, settings, problem_id, moderator, body.reason)


@router.patch("/{problem_id:uuid}", response_model=Problem)
async def edit(uow: Uow, settings: Settings, problem_id: uuid.UUID, moderator: Moderator, body: EditIn) -> Any:
    """Edit a problem's text, category or fields; the original is kept (``original``)."""
    changes = {k: v for k, v in body.model_dump(exclude={"reason"}).items() if v is not None}
    async with uow:
        return await usecases.edit(uow, settings, problem_id, moderator, changes, body.reason)


@router.post("/{problem_id:uuid}/merge", response_model=Problem)
async def merge(uow: Uow, settings: Settings, problem_id: uuid.UUID, moderator: Moderator, body: MergeIn) -> Any:
    """Merge this duplicate into ``into``: supports and subscribers move there. Returns the survivor."""
    async with uow:
        return await usecases.merge(uow, settings, problem_id, body.into, moderator, body.reason)


@router.get("/comments", response_model=Page[Comment])
async def flagged_comments(uow: Uow, _: Moderator, page: Pages) -> Any:
    """Flagged visible comments, most flagged first."""
    async with uow:
        return await usecases.flagged_comments(uow, page)


@router.post("/comments/{comment_id:uuid}/hide", response_model=Comment)
async def hide_comment(uow: Uow, comment_id: uuid.UUID, moderator: Moderator, body: HideIn) -> Any:
    """Hide a comment (``hidden: false`` shows it again)."""
    async with uow:
        return await usecases.hide_comment(uow, comment_id, moderator, hidden=body.hidden, reason=body.reason)
