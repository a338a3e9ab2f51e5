"""Response shapes shared by the problems routers (see /tmp problems API: the gateway and web rely on them)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field


class Point(BaseModel):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class PhotoRef(BaseModel):
    id: uuid.UUID
    url: str
    thumbnail_url: str


class Author(BaseModel):
    display_name: str


class AuthorityRef(BaseModel):
    id: uuid.UUID
    name: str | None


class AnswerOut(BaseModel):
    id: uuid.UUID
    text: str
    outcome: str
    answered_at: datetime
    answered_by: str | None
    authority: AuthorityRef | None = None
    planned_for: date | None = None


class TimelineStep(BaseModel):
    at: datetime
    status: str
    status_name: str
    text: str
    authority: AuthorityRef | None = None


class ProblemSummary(BaseModel):
    id: uuid.UUID
    map_code: str
    category_code: str
    category_name: str
    point: Point
    address: str
    title: str
    description: str
    extra: dict[str, Any]
    photos: list[PhotoRef]
    status: str
    status_name: str
    open: bool
    reported_at: datetime
    published_at: datetime | None
    updated_at: datetime
    supports_count: int
    comments_count: int
    author: Author | None
    anonymous: bool
    authority: AuthorityRef | None
    appeal_id: uuid.UUID | None
    answer_due_at: datetime | None
    can_confirm_until: datetime | None
    rating: int | None
    merged_into: uuid.UUID | None


class Problem(ProblemSummary):
    answers: list[AnswerOut]
    timeline: list[TimelineStep]
    is_mine: bool = False
    supported_by_me: bool | None = None
    moderation_reason: str | None = None
    original: dict[str, Any] | None = None


class Comment(BaseModel):
    id: uuid.UUID
    problem_id: uuid.UUID
    author: Author | None
    body: str
    created_at: datetime
    edited_at: datetime | None
    hidden: bool
    is_mine: bool = False
    flags_count: int | None = None
    hidden_reason: str | None = None
