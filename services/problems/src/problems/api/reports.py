"""The public problems API: photos, reporting, duplicates, one problem, supports, and the author's actions.

Lists and the map are in ``reading.py``; comments in ``comments.py``; moderation in ``moderation.py``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from problems.api.deps import Caller, MaybeCaller, Settings, Storage, Uow
from problems.api.models import Point, Problem, ProblemSummary
from problems.domain.reports import MAX_DESCRIPTION, MAX_PHOTOS
from problems.usecases import author as author_usecases
from problems.usecases import photos as photo_usecases
from problems.usecases import reports as usecases
from servicekit.http.idempotency import fingerprint, idempotency_key

router = APIRouter(prefix="/api/v1/problems", tags=["problems"])
ProblemId = uuid.UUID
Key = Annotated[str | None, Depends(idempotency_key)]


class PhotoOut(BaseModel):
    id: uuid.UUID
    url: str
    thumbnail_url: str
    width: int
    height: int
    content_type: str


@router.post("/photos", response_model=PhotoOut, status_code=201)
async def upload_photo(
    uow: Uow, settings: Settings, storage: Storage, caller: Caller, file: Annotated[UploadFile, File()], key: Key
) -> Any:
    """Upload one photo (JPEG/PNG/WebP, ≤ 10 MB), checked by content, re-encoded without EXIF, thumbnailed.
    Attach it by id in a report within 24 h, or it is deleted. Who may call: a signed-in resident (citizen)
    or a partner client with scope ``problems:write``. ``Idempotency-Key`` makes a retry return the same photo."""
    usecases.check_reporter(caller)
    raw = await file.read(settings.photo_max_bytes + 1)
    async with uow:
        status, out = await photo_usecases.upload(uow, storage, settings, caller, raw, key=key)
    return JSONResponse(out, status_code=status)


async def _photo(uow: Uow, storage: Storage, photo_id: uuid.UUID, caller: MaybeCaller, thumbnail: bool) -> Response:
    async with uow:
        data, content_type = await photo_usecases.read(uow, storage, photo_id, thumbnail=thumbnail, principal=caller)
    return Response(
        data,
        media_type=content_type,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/photos/{photo_id:uuid}/file", response_class=Response)
async def photo_file(uow: Uow, storage: Storage, photo_id: uuid.UUID, caller: MaybeCaller) -> Response:
    """A photo (EXIF-free). Who may call: anyone who may see its problem; an unattached one: its uploader."""
    return await _photo(uow, storage, photo_id, caller, False)


@router.get("/photos/{photo_id:uuid}/thumbnail", response_class=Response)
async def photo_thumbnail(uow: Uow, storage: Storage, photo_id: uuid.UUID, caller: MaybeCaller) -> Response:
    """A photo's JPEG thumbnail. Who may call: as for the photo."""
    return await _photo(uow, storage, photo_id, caller, True)


class ApplicantIn(BaseModel):
    """Who asks for the official answer (59-FZ: a name and an address for the answer). Personal data."""

    model_config = ConfigDict(extra="forbid")
    full_name: str = Field(min_length=2, max_length=200)
    email: EmailStr
    postal_address: str | None = Field(default=None, max_length=500)


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    map: str = Field(default="city", max_length=64, description="The map's code: `city` or `volunteering`.")
    category: str = Field(max_length=64, description="The category's code.")
    point: Point
    address: str = Field(default="", max_length=500)
    title: str = Field(min_length=3, max_length=200)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    extra: dict[str, Any] = Field(default_factory=dict, description="The category's attributes: code → value(s).")
    photo_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_PHOTOS)
    anonymous: bool = False
    applicant: ApplicantIn | None = None
    display_name: str | None = Field(
        default=None, max_length=100, description="How the author is shown; by default the applicant's short name."
    )


@router.post("", response_model=Problem, status_code=201)
async def report_problem(uow: Uow, settings: Settings, caller: Caller, body: ReportIn, key: Key) -> Any:
    """Report a problem. Who may call: a signed-in resident (role citizen; the `volunteering` map needs role
    volunteer) or a partner client with scope ``problems:write`` reporting on behalf of a resident.
    ``Idempotency-Key`` makes a retry return the same problem."""
    draft = usecases.ReportDraft(
        map_code=body.map,
        category_code=body.category,
        lon=body.point.lon,
        lat=body.point.lat,
        address=body.address.strip(),
        title=body.title.strip(),
        description=body.description.strip(),
        extra=body.extra,
        photo_ids=body.photo_ids,
        anonymous=body.anonymous,
        applicant=usecases.Applicant(**body.applicant.model_dump()) if body.applicant else None,
        display_name=body.display_name,
    )
    async with uow:
        status, out = await usecases.report(
            uow,
            settings,
            caller,
            draft,
            key=key,
            fingerprint=fingerprint(body.model_dump(mode="json")) if key is not None else "",
        )
    return JSONResponse(out, status_code=status, headers={"Location": f"/api/v1/problems/{out['id']}"})


class Duplicate(ProblemSummary):
    distance_m: float


class Duplicates(BaseModel):
    radius_m: int
    items: list[Duplicate]


@router.get("/duplicates", response_model=Duplicates)
async def duplicates(
    uow: Uow,
    settings: Settings,
    category: Annotated[str, Query(max_length=64)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
) -> Any:
    """Open public problems of this category within its duplicate radius, nearest first. Who may call: anyone."""
    async with uow:
        return await usecases.find_duplicates(uow, settings, category_code=category, lon=lon, lat=lat)


@router.get("/{problem_id:uuid}", response_model=Problem)
async def get_problem(uow: Uow, settings: Settings, problem_id: ProblemId, caller: MaybeCaller) -> Any:
    """One problem with its answers and timeline. Who may call: anyone; a problem on moderation, rejected,
    withdrawn or in a private category only its author, moderators and operators (others get 404)."""
    async with uow:
        return await usecases.get_problem(uow, settings, problem_id, caller)


class SupportOut(BaseModel):
    supported: bool
    supports_count: int


@router.post("/{problem_id:uuid}/supports", response_model=SupportOut)
async def support(uow: Uow, problem_id: ProblemId, caller: Caller, response: Response) -> Any:
    """ "У меня тоже": one support per user (201 the first time, 200 after). Who may call: a signed-in resident."""
    async with uow:
        added, count = await usecases.support(uow, problem_id, caller)
    response.status_code = 201 if added else 200
    return {"supported": True, "supports_count": count}


@router.delete("/{problem_id:uuid}/supports", response_model=SupportOut)
async def unsupport(uow: Uow, problem_id: ProblemId, caller: Caller) -> Any:
    """Take one's support back. Who may call: a signed-in resident."""
    async with uow:
        count = await usecases.unsupport(uow, problem_id, caller)
    return {"supported": False, "supports_count": count}


class AuthorEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(default=None, max_length=500)
    title: str | None = Field(default=None, min_length=3, max_length=200)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    extra: dict[str, Any] | None = None


@router.patch("/{problem_id:uuid}", response_model=Problem)
async def edit_problem(uow: Uow, settings: Settings, problem_id: ProblemId, caller: Caller, body: AuthorEdit) -> Any:
    """Correct one's report while it waits for moderation. Who may call: its author only."""
    changes = {k: v for k, v in body.model_dump().items() if v is not None}
    async with uow:
        return await author_usecases.edit(uow, settings, problem_id, caller, changes)


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


class RequiredReason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=2000)


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rating: int = Field(ge=1, le=5)


@router.post("/{problem_id:uuid}/withdraw", response_model=Problem)
async def withdraw(uow: Uow, settings: Settings, problem_id: ProblemId, caller: Caller, body: Reason) -> Any:
    """Withdraw one's report. Who may call: its author only."""
    async with uow:
        return await author_usecases.withdraw(uow, settings, problem_id, caller, body.reason)


@router.post("/{problem_id:uuid}/anonymise", response_model=Problem)
async def anonymise(uow: Uow, settings: Settings, problem_id: ProblemId, caller: Caller) -> Any:
    """Hide one's name on this report for good. Who may call: its author only."""
    async with uow:
        return await author_usecases.anonymise(uow, settings, problem_id, caller)


@router.post("/{problem_id:uuid}/confirm", response_model=Problem)
async def confirm(uow: Uow, settings: Settings, problem_id: ProblemId, caller: Caller) -> Any:
    """Confirm the answer solved the problem (within 15 days of it). Who may call: its author only."""
    async with uow:
        return await author_usecases.confirm(uow, settings, problem_id, caller)


@router.post("/{problem_id:uuid}/dispute", response_model=Problem)
async def dispute(uow: Uow, settings: Settings, problem_id: ProblemId, caller: Caller, body: RequiredReason) -> Any:
    """Dispute the answer (within 15 days): the problem reopens and routing repeats the appeal.
    Who may call: its author only."""
    async with uow:
        return await author_usecases.dispute(uow, settings, problem_id, caller, body.reason)


@router.post("/{problem_id:uuid}/rating", response_model=Problem)
async def rate(uow: Uow, settings: Settings, problem_id: ProblemId, caller: Caller, body: RatingIn) -> Any:
    """Rate the authority's answer 1–5, once. Who may call: its author only."""
    async with uow:
        return await author_usecases.rate(uow, settings, problem_id, caller, body.rating)
