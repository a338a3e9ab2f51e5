"""Comments under a problem: ``/api/v1/problems/{id}/comments`` and ``/api/v1/problems/comments/{id}``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from problems.api.deps import Caller, MaybeCaller, Uow
from problems.api.models import Comment
from problems.usecases import comments as usecases
from servicekit.http.idempotency import fingerprint, idempotency_key
from servicekit.http.pagination import Page, PageRequest, page_request

router = APIRouter(prefix="/api/v1/problems", tags=["comments"])
Pages = Annotated[PageRequest, Depends(page_request)]
Key = Annotated[str | None, Depends(idempotency_key)]


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=2000)
    display_name: str | None = Field(default=None, max_length=100, description="How the author is shown.")


class CommentEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=2000)


class FlagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=500)


class FlagOut(BaseModel):
    flagged: bool


@router.post("/{problem_id:uuid}/comments", response_model=Comment, status_code=201)
async def create_comment(uow: Uow, problem_id: uuid.UUID, caller: Caller, body: CommentIn, key: Key) -> Any:
    """Comment on a problem. Who may call: a signed-in resident. Takes ``Idempotency-Key``."""
    async with uow:
        status, out = await usecases.create(
            uow,
            problem_id,
            caller,
            body=body.body.strip(),
            display_name=body.display_name,
            key=key,
            fingerprint=fingerprint({"problem": str(problem_id), **body.model_dump()}),
        )
    return JSONResponse(out, status_code=status)


@router.get("/{problem_id:uuid}/comments", response_model=Page[Comment])
async def list_comments(uow: Uow, problem_id: uuid.UUID, caller: MaybeCaller, page: Pages) -> Any:
    """Comments, oldest first, cursor-paginated; hidden ones only for moderators. Who may call: anyone who may
    see the problem."""
    async with uow:
        return await usecases.list_for_problem(uow, problem_id, caller, page)


@router.patch("/comments/{comment_id:uuid}", response_model=Comment)
async def edit_comment(uow: Uow, comment_id: uuid.UUID, caller: Caller, body: CommentEdit) -> Any:
    """Edit one's own comment within a day. Who may call: its author only."""
    async with uow:
        return await usecases.edit(uow, comment_id, caller, body.body.strip())


@router.post("/comments/{comment_id:uuid}/flags", response_model=FlagOut)
async def flag_comment(uow: Uow, comment_id: uuid.UUID, caller: Caller, body: FlagIn, response: Response) -> Any:
    """Flag a comment for moderators (once per user: 201, then 200). Who may call: a signed-in resident."""
    async with uow:
        added = await usecases.flag(uow, comment_id, caller, body.reason)
    response.status_code = 201 if added else 200
    return {"flagged": True}
