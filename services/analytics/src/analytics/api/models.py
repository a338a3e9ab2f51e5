"""Response models of the analytics API (they document the reports in OpenAPI)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel


class TerritoryOut(BaseModel):
    id: uuid.UUID
    oktmo: str
    name: str
    level: str
    parent_id: uuid.UUID | None = None
    timezone: str


class CategoryCount(BaseModel):
    code: str
    name: str | None = None
    count: int
    solved: int


class StatusCount(BaseModel):
    status: str
    count: int


class WeekCount(BaseModel):
    week: date
    """Monday of the week, in the territory's time zone."""
    new: int
    solved: int


class ResponseTimes(BaseModel):
    appeals: int
    registration_median_hours: float | None = None
    registration_p90_hours: float | None = None
    answer_median_days: float | None = None
    answer_p90_days: float | None = None


class ChildTerritory(ResponseTimes):
    territory_id: uuid.UUID
    oktmo: str
    name: str
    reported: int
    solved: int
    share_solved: float | None = None


class Dashboard(BaseModel):
    territory: TerritoryOut
    since: date
    until: date
    """Exclusive."""
    reported: int
    solved: int
    share_solved: float | None = None
    """Solved ÷ reported, of the problems reported in the period: the headline "conversion"."""
    by_category: list[CategoryCount]
    by_status: list[StatusCount]
    weekly: list[WeekCount]
    response_times: ResponseTimes
    children: list[ChildTerritory]


class OverdueRow(BaseModel):
    authority_id: uuid.UUID
    authority_name: str
    department_id: uuid.UUID | None = None
    department_name: str | None = None
    overdue: int
    avg_days_overdue: float
    max_days_overdue: float
    extensions: int
    escalations: int


class OverdueSummary(BaseModel):
    territory: TerritoryOut
    items: list[OverdueRow]


class OverdueAppeal(BaseModel):
    id: uuid.UUID
    problem_id: uuid.UUID
    authority_id: uuid.UUID
    authority_name: str
    department_id: uuid.UUID | None = None
    department_name: str | None = None
    territory_id: uuid.UUID | None = None
    territory_name: str | None = None
    category_id: uuid.UUID | None = None
    sent_at: datetime | None = None
    registered_at: datetime | None = None
    registration_number: str | None = None
    kind: str
    """``registration`` or ``answer`` (overdue now), ``answered_late`` (with ``include_answered``)."""
    due_at: datetime | None = None
    answered_at: datetime | None = None
    days_overdue: float
    extensions: int
    escalations: int
    forwards: int


class RatedDepartmentOut(BaseModel):
    rank: int | None = None
    """None: fewer votes than ``min_votes``, not ranked."""
    department_id: str
    name: str
    score: float
    mean: float
    votes: int
    ratings: int
    confirmations: int
    disputes: int


class RatingOut(BaseModel):
    territory: TerritoryOut
    min_votes: int
    items: list[RatedDepartmentOut]


class AuthorityOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: str
    parent_id: uuid.UUID | None = None
    parent_name: str | None = None
    territory_id: uuid.UUID | None = None
    territory_name: str | None = None


class CardFigures(BaseModel):
    appeals: int
    answered: int
    overdue_now: int
    on_time_rate: float | None = None
    avg_answer_days: float | None = None
    share_solved: float | None = None


class CardMonth(CardFigures):
    month: date


class AuthorityCard(CardFigures):
    authority: AuthorityOut
    since: date
    until: date
    trend: list[CardMonth]
