"""The events the routing service consumes, each with its queue and handler."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from routing.usecases import appeals
from servicekit.consumer import Subscription
from servicekit.events import CloudEvent
from servicekit.uow import UnitOfWork


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Point(_In):
    lon: float
    lat: float


class ApplicantIn(_In):
    full_name: str
    email: str
    postal_address: str | None = None


class ProblemPublished(_In):
    problem_id: uuid.UUID
    map_code: str | None = None
    category_id: uuid.UUID
    category_code: str
    category_name: str
    point: Point
    address: str
    title: str
    description: str
    published_at: datetime
    photos: list[str]
    public_url: str | None = None
    author_id: uuid.UUID | None = None
    applicant: ApplicantIn | None = None


class ProblemReopened(_In):
    problem_id: uuid.UUID
    appeal_id: uuid.UUID | None = None
    reason: str


class ProblemRated(_In):
    problem_id: uuid.UUID
    appeal_id: uuid.UUID | None = None
    rating: int


class UserErased(_In):
    user_id: uuid.UUID


LOW_RATING = 2
NOT_FOR_AUTHORITIES = frozenset({"volunteering"})
"""Thematic maps whose problems are not appeals to authorities (the volunteers' map)."""


async def on_problem_published(event: CloudEvent, uow: UnitOfWork) -> None:
    data = ProblemPublished.model_validate(event.data)
    if data.map_code in NOT_FOR_AUTHORITIES or data.category_code.startswith("volunteer."):
        return
    facts = appeals.ProblemFacts(
        problem_id=data.problem_id,
        category_id=data.category_id,
        category_code=data.category_code,
        category_name=data.category_name,
        lon=data.point.lon,
        lat=data.point.lat,
        address=data.address,
        title=data.title,
        description=data.description,
        photos=data.photos,
        public_url=data.public_url,
        author_id=data.author_id,
        published_at=data.published_at,
    )
    applicant = (
        appeals.Applicant(data.author_id, data.applicant.full_name, data.applicant.email, data.applicant.postal_address)
        if data.applicant is not None
        else None
    )
    await appeals.create_from_problem(uow, facts, applicant)


async def on_problem_reopened(event: CloudEvent, uow: UnitOfWork) -> None:
    data = ProblemReopened.model_validate(event.data)
    await appeals.open_repeat(
        uow, data.problem_id, appeal_id=data.appeal_id, cause="disputed", citizen_words=data.reason
    )


async def on_problem_rated(event: CloudEvent, uow: UnitOfWork) -> None:
    data = ProblemRated.model_validate(event.data)
    if data.rating <= LOW_RATING:
        await appeals.open_repeat(
            uow, data.problem_id, appeal_id=data.appeal_id, cause="low_rating", citizen_words=None
        )


async def on_user_erased(event: CloudEvent, uow: UnitOfWork) -> None:
    await appeals.erase_applicant(uow, UserErased.model_validate(event.data).user_id)


SUBSCRIPTIONS: list[Subscription] = [
    Subscription("routing.problem_published", ("problems.problem.published.v1",), on_problem_published),
    Subscription("routing.problem_reopened", ("problems.problem.reopened.v1",), on_problem_reopened),
    Subscription("routing.problem_rated", ("problems.problem.rated.v1",), on_problem_rated),
    Subscription("routing.user_erased", ("auth.user.erased.v1",), on_user_erased),
]
