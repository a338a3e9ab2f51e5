"""The officials' cabinet: ``/api/v1/cabinet/...``.

Every endpoint here is for an official (role ``official``) who is a member of an authority, and reaches only
the appeals and templates of the authorities they are a member of: another authority's appeal is a 404.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile
from pydantic import BaseModel, Field, HttpUrl

from routing.api.deps import CurrentOfficial, Official, OfficialPrincipal, Uow, once_per_key, user_id_of
from routing.db import queries
from routing.domain.appeals import Outcome
from routing.usecases import admin, appeals, officials
from servicekit.http.idempotency import idempotency_key
from servicekit.http.pagination import Page, PageRequest, make_page, page_request
from servicekit.http.problems import ProblemError

router = APIRouter(prefix="/api/v1/cabinet", tags=["cabinet"])

Paging = Annotated[PageRequest, Depends(page_request)]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
MAX_UPLOAD = 10 * 1024 * 1024
MAX_BULK = 100


class AppealItem(BaseModel):
    id: uuid.UUID
    problem_id: uuid.UUID
    authority_id: uuid.UUID
    authority_name: str
    status: str
    channel: str
    category_code: str
    category_name: str
    title: str
    address: str
    department_id: uuid.UUID | None
    assignee_user_id: uuid.UUID | None
    registration_number: str | None
    sent_at: datetime
    registration_due_at: datetime
    registered_at: datetime | None
    answer_due_at: datetime | None
    due_at: datetime | None = Field(
        description="The deadline in force: registration while unregistered, then the answer."
    )
    overdue: bool
    repeat_of: uuid.UUID | None
    forwarded_from: uuid.UUID | None


class TimelineItem(BaseModel):
    at: datetime
    kind: str
    actor_user_id: uuid.UUID | None
    data: dict[str, Any]


class NoteOut(BaseModel):
    id: uuid.UUID
    author_user_id: uuid.UUID
    text: str
    created_at: datetime


class AttachmentOut(BaseModel):
    id: uuid.UUID
    url: str
    filename: str | None
    content_type: str | None
    size: int | None


class AnswerOut(BaseModel):
    id: uuid.UUID
    text: str
    outcome: str
    planned_for: date | None
    refusal_reason: str | None
    answered_by: str | None
    source: str
    answered_at: datetime
    on_time: bool


class Applicant(BaseModel):
    full_name: str | None
    email: str | None
    postal_address: str | None


class AppealDetail(AppealItem):
    reason: str
    description: str
    photos: list[str]
    public_url: str | None
    lon: float
    lat: float
    forward_due_at: datetime | None
    extended_by_days: int | None
    extension_reason: str | None
    applicant: Applicant | None = Field(description="59-FZ: the name and address for the answer; none if anonymous.")
    answer: AnswerOut | None
    attachments: list[AttachmentOut]
    notes: list[NoteOut]
    timeline: list[TimelineItem]


def _item(row: Any, now: datetime) -> dict[str, Any]:
    overdue = row.status in ("sent", "registered", "in_work") and row.due_at is not None and row.due_at < now
    return {name: getattr(row, name) for name in AppealItem.model_fields if name != "overdue"} | {"overdue": overdue}


@router.get("/appeals", response_model=Page[AppealItem])
async def appeal_queue(
    official: CurrentOfficial,
    uow: Uow,
    paging: Paging,
    status: Annotated[Literal["sent", "registered", "in_work", "answered", "forwarded"] | None, Query()] = None,
    authority_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
    assignee_user_id: uuid.UUID | None = None,
    category_code: Annotated[str | None, Query(max_length=100)] = None,
    overdue: bool | None = None,
) -> Page[AppealItem]:
    """The queue of the caller's authorities, nearest deadline first. Officials only."""
    now = datetime.now(UTC)
    async with uow:
        rows = await queries.queue(
            uow.session,
            official.authorities,
            status=status,
            authority_id=authority_id,
            department_id=department_id,
            assignee_user_id=assignee_user_id,
            category_code=category_code,
            overdue=overdue,
            now=now,
            after=paging.after,
            limit=paging.limit,
        )
    items = [AppealItem(**_item(row, now)) for row in rows]
    return make_page(items, paging, lambda item: [item.due_at.isoformat() if item.due_at else None, str(item.id)])


@router.get("/appeals/{appeal_id}", response_model=AppealDetail)
async def appeal_detail(appeal_id: uuid.UUID, official: CurrentOfficial, uow: Uow) -> AppealDetail:
    """One appeal with the applicant's data, answer, notes and timeline. Officials of its authority only."""
    now = datetime.now(UTC)
    async with uow:
        row = await queries.appeal(uow.session, appeal_id, official.authorities)
        if row is None:
            raise ProblemError(404, appeals.NOT_FOUND)
        answer = await queries.answer(uow.session, appeal_id)
        files = await queries.attachments(uow.session, appeal_id)
        notes = await queries.notes(uow.session, appeal_id)
        events = await queries.timeline(uow.session, appeal_id)
    has_applicant = row.applicant_name is not None or row.applicant_email is not None
    return AppealDetail(
        **_item(row, now),
        reason=row.reason,
        description=row.description,
        photos=list(row.photos or []),
        public_url=row.public_url,
        lon=row.lon,
        lat=row.lat,
        forward_due_at=row.forward_due_at,
        extended_by_days=row.extended_by_days,
        extension_reason=row.extension_reason,
        applicant=Applicant(
            full_name=row.applicant_name, email=row.applicant_email, postal_address=row.applicant_postal_address
        )
        if has_applicant
        else None,
        answer=AnswerOut.model_validate(answer, from_attributes=True) if answer else None,
        attachments=[
            AttachmentOut(
                id=f.id,
                url=f.url or f"/api/v1/cabinet/appeals/{appeal_id}/attachments/{f.id}",
                filename=f.filename,
                content_type=f.content_type,
                size=f.size,
            )
            for f in files
        ],
        notes=[NoteOut.model_validate(n, from_attributes=True) for n in notes],
        timeline=[TimelineItem.model_validate(e, from_attributes=True) for e in events],
    )


@router.get("/appeals/{appeal_id}/attachments/{attachment_id}")
async def download_attachment(
    appeal_id: uuid.UUID, attachment_id: uuid.UUID, official: CurrentOfficial, uow: Uow
) -> Response:
    """An uploaded attachment of an answer. Officials of the appeal's authority only."""
    async with uow:
        if await queries.appeal(uow.session, appeal_id, official.authorities) is None:
            raise ProblemError(404, appeals.NOT_FOUND)
        row = await queries.attachment_content(uow.session, appeal_id, attachment_id)
    if row is None:
        raise ProblemError(404, "Файл не найден.")
    return Response(row.content, media_type=row.content_type or "application/octet-stream")


class RegisterIn(BaseModel):
    registration_number: str | None = Field(default=None, max_length=100)


@router.post("/appeals/{appeal_id}/register", status_code=204)
async def register(appeal_id: uuid.UUID, body: RegisterIn, official: CurrentOfficial, uow: Uow) -> None:
    """Register the appeal (59-FZ: within 3 working days); the answer deadline starts. Officials only."""
    async with uow:
        await appeals.register(
            uow, appeal_id, actor=official.user_id, scope=official.authorities, number=body.registration_number
        )
        await uow.commit()


class AssignIn(BaseModel):
    department_id: uuid.UUID | None = None
    assignee_user_id: uuid.UUID | None = None


@router.post("/appeals/{appeal_id}/assign", status_code=204)
async def assign(appeal_id: uuid.UUID, body: AssignIn, official: CurrentOfficial, uow: Uow) -> None:
    """Assign to a department (a подведомственная служба of the authority) or a colleague. Officials only."""
    async with uow:
        await appeals.assign(
            uow,
            appeal_id,
            actor=official.user_id,
            scope=official.authorities,
            department_id=body.department_id,
            assignee_user_id=body.assignee_user_id,
        )
        await uow.commit()


class AnswerContent(BaseModel):
    """What an answer says, whether its attachments come as URLs (JSON) or as uploaded files (multipart)."""

    text: str = Field(min_length=1, max_length=20000)
    outcome: Outcome
    planned_for: date | None = None
    refusal_reason: str | None = Field(default=None, max_length=5000)
    answered_by: str | None = Field(default=None, max_length=300, description="Position or department, shown publicly.")


class AnswerIn(AnswerContent):
    attachment_urls: list[HttpUrl] = Field(default_factory=list, max_length=20)


class Created(BaseModel):
    id: uuid.UUID


async def _record_answer(
    uow: Uow,
    appeal_id: uuid.UUID,
    official: Official,
    content: AnswerContent,
    attachments: list[appeals.NewAttachment],
) -> dict[str, Any]:
    answer_id = await appeals.record_answer(
        uow,
        appeal_id,
        text=content.text,
        outcome=content.outcome,
        planned_for=content.planned_for,
        refusal_reason=content.refusal_reason,
        answered_by=content.answered_by,
        attachments=attachments,
        author_user_id=official.user_id,
        scope=official.authorities,
    )
    return {"id": str(answer_id)}


@router.post("/appeals/{appeal_id}/answer", status_code=201, response_model=Created)
async def answer(
    appeal_id: uuid.UUID, body: AnswerIn, official: CurrentOfficial, uow: Uow, key: IdempotencyKey, response: Response
) -> Any:
    """The public answer (solved / planned with a date / refused with a reason), attachments as URLs.
    Takes Idempotency-Key. Officials of the appeal's authority only."""

    async def work() -> dict[str, Any]:
        attachments = [appeals.NewAttachment(url=str(url)) for url in body.attachment_urls]
        return await _record_answer(uow, appeal_id, official, body, attachments)

    return await once_per_key(
        uow,
        response,
        scope=f"routing.answer:{official.user_id}",
        key=key,
        request={"appeal": str(appeal_id), **body.model_dump(mode="json")},
        work=work,
    )


@router.post("/appeals/{appeal_id}/answer/upload", status_code=201, response_model=Created)
async def answer_with_files(
    appeal_id: uuid.UUID,
    official: CurrentOfficial,
    uow: Uow,
    text: Annotated[str, Form(min_length=1, max_length=20000)],
    outcome: Annotated[Outcome, Form()],
    files: Annotated[list[UploadFile], File(description="Up to 10 files, 10 MB each.")],
    planned_for: Annotated[date | None, Form()] = None,
    refusal_reason: Annotated[str | None, Form(max_length=5000)] = None,
    answered_by: Annotated[str | None, Form(max_length=300)] = None,
) -> Any:
    """The answer with uploaded attachments (multipart/form-data). Officials of the appeal's authority only."""
    if len(files) > 10:
        raise ProblemError(422, "Не больше 10 файлов.", errors=[{"field": "body.files", "message": "Слишком много."}])
    attachments = []
    for upload in files:
        content = await upload.read(MAX_UPLOAD + 1)
        if len(content) > MAX_UPLOAD:
            raise ProblemError(
                413,
                f"Файл «{upload.filename}» больше 10 МБ.",
                errors=[{"field": "body.files", "message": "Большой файл."}],
            )
        attachments.append(
            appeals.NewAttachment(filename=upload.filename, content_type=upload.content_type, content=content)
        )
    said = AnswerContent(
        text=text, outcome=outcome, planned_for=planned_for, refusal_reason=refusal_reason, answered_by=answered_by
    )
    async with uow:
        created = await _record_answer(uow, appeal_id, official, said, attachments)
        await uow.commit()
    return created


class ForwardIn(BaseModel):
    to_authority_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=5000)


@router.post("/appeals/{appeal_id}/forward", status_code=201, response_model=Created)
async def forward(appeal_id: uuid.UUID, body: ForwardIn, official: CurrentOfficial, uow: Uow) -> Any:
    """Forward to the competent authority (within 7 days of registration); returns the new appeal's id.
    Officials of the appeal's authority only."""
    async with uow:
        new_id = await appeals.forward(
            uow,
            appeal_id,
            actor=official.user_id,
            scope=official.authorities,
            to_authority_id=body.to_authority_id,
            reason=body.reason,
        )
        await uow.commit()
    return {"id": str(new_id)}


class ExtendIn(BaseModel):
    days: int = Field(ge=1, le=30)
    reason: str = Field(min_length=1, max_length=5000)


class Extended(BaseModel):
    answer_due_at: datetime


@router.post("/appeals/{appeal_id}/extend", response_model=Extended)
async def extend(appeal_id: uuid.UUID, body: ExtendIn, official: CurrentOfficial, uow: Uow) -> Extended:
    """Extend the answer deadline once, by 1–30 days, with a reason. Officials of the appeal's authority only."""
    async with uow:
        due = await appeals.extend(
            uow, appeal_id, actor=official.user_id, scope=official.authorities, days=body.days, reason=body.reason
        )
        await uow.commit()
    return Extended(answer_due_at=due)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=10000)


@router.post("/appeals/{appeal_id}/notes", status_code=201, response_model=Created)
async def add_note(
    appeal_id: uuid.UUID, body: NoteIn, official: CurrentOfficial, uow: Uow, key: IdempotencyKey, response: Response
) -> Any:
    """An internal note (never public). Takes Idempotency-Key. Officials of the appeal's authority only."""

    async def work() -> dict[str, Any]:
        note_id = await appeals.add_note(
            uow, appeal_id, actor=official.user_id, scope=official.authorities, text=body.text
        )
        return {"id": str(note_id)}

    return await once_per_key(
        uow,
        response,
        scope=f"routing.note:{official.user_id}",
        key=key,
        request={"appeal": str(appeal_id), **body.model_dump(mode="json")},
        work=work,
    )


class BulkRegisterIn(BaseModel):
    appeal_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_BULK)


class BulkAssignIn(AssignIn):
    appeal_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_BULK)


class BulkResult(BaseModel):
    done: list[uuid.UUID]
    failed: list[dict[str, str]] = Field(description="`{appeal_id, detail}` for each appeal left as it was.")


async def _bulk(uow: Uow, ids: list[uuid.UUID], step: Any) -> BulkResult:
    """Each appeal in its own transaction: one that may not take the step does not stop the others."""
    done: list[uuid.UUID] = []
    failed: list[dict[str, str]] = []
    for appeal_id in dict.fromkeys(ids):
        async with uow:
            try:
                await step(appeal_id)
                await uow.commit()
                done.append(appeal_id)
            except (ProblemError, appeals.TransitionError) as error:
                failed.append({"appeal_id": str(appeal_id), "detail": str(error.detail)})
    return BulkResult(done=done, failed=failed)


@router.post("/bulk/register", response_model=BulkResult)
async def bulk_register(body: BulkRegisterIn, official: CurrentOfficial, uow: Uow) -> BulkResult:
    """Register up to 100 appeals. Officials only; appeals of other authorities fail as not found."""

    async def step(appeal_id: uuid.UUID) -> None:
        await appeals.register(uow, appeal_id, actor=official.user_id, scope=official.authorities)

    return await _bulk(uow, body.appeal_ids, step)


@router.post("/bulk/assign", response_model=BulkResult)
async def bulk_assign(body: BulkAssignIn, official: CurrentOfficial, uow: Uow) -> BulkResult:
    """Assign up to 100 appeals to one department or colleague. Officials only."""

    async def step(appeal_id: uuid.UUID) -> None:
        await appeals.assign(
            uow,
            appeal_id,
            actor=official.user_id,
            scope=official.authorities,
            department_id=body.department_id,
            assignee_user_id=body.assignee_user_id,
        )

    return await _bulk(uow, body.appeal_ids, step)


class EscalationItem(BaseModel):
    event_id: int
    escalated_at: datetime
    cause: str
    appeal_id: uuid.UUID
    problem_id: uuid.UUID
    status: str
    authority_id: uuid.UUID
    authority_name: str
    category_code: str
    category_name: str
    title: str
    address: str
    sent_at: datetime
    registration_due_at: datetime
    answer_due_at: datetime | None


@router.get("/escalations", response_model=Page[EscalationItem])
async def escalations(official: CurrentOfficial, uow: Uow, paging: Paging) -> Page[EscalationItem]:
    """Appeals escalated to the caller's supervisory authority (overdue, disputed, low rating), newest first;
    without the applicant's personal data. Officials of the supervisory authority only (others get none)."""
    async with uow:
        rows = await queries.escalations(uow.session, official.authorities, after=paging.after, limit=paging.limit)
    items = [EscalationItem.model_validate(r, from_attributes=True) for r in rows]
    return make_page(items, paging, lambda e: [e.event_id])


class TemplateIn(BaseModel):
    authority_id: uuid.UUID | None = Field(default=None, description="Needed only for a member of several.")
    title: str = Field(min_length=1, max_length=300)
    text: str = Field(min_length=1, max_length=20000)


class TemplateOut(BaseModel):
    id: uuid.UUID
    authority_id: uuid.UUID
    title: str
    text: str
    updated_at: datetime


@router.get("/templates", response_model=Page[TemplateOut])
async def list_templates(official: CurrentOfficial, uow: Uow, paging: Paging) -> Page[TemplateOut]:
    """Response templates of the caller's authorities. Officials only."""
    async with uow:
        rows = await queries.templates(uow.session, official.authorities, after=paging.after, limit=paging.limit)
    items = [TemplateOut.model_validate(r, from_attributes=True) for r in rows]
    return make_page(items, paging, lambda t: [str(t.id)])


@router.post("/templates", status_code=201, response_model=Created)
async def create_template(
    body: TemplateIn, official: CurrentOfficial, uow: Uow, key: IdempotencyKey, response: Response
) -> Any:
    """A response template for one of the caller's authorities. Takes Idempotency-Key. Officials only."""
    authority_id = body.authority_id or official.authorities[0]
    if authority_id not in official.authorities:
        raise ProblemError(403, "Шаблоны можно создавать только для своего органа.")

    async def work() -> dict[str, Any]:
        return {
            "id": str(await admin.create_template(uow, authority_id=authority_id, title=body.title, text_=body.text))
        }

    return await once_per_key(
        uow,
        response,
        scope=f"routing.template:{official.user_id}",
        key=key,
        request=body.model_dump(mode="json"),
        work=work,
    )


@router.put("/templates/{template_id}", status_code=204)
async def update_template(template_id: uuid.UUID, body: TemplateIn, official: CurrentOfficial, uow: Uow) -> None:
    """Change a template of the caller's authority. Officials only."""
    async with uow:
        await admin.update_template(uow, template_id, official.authorities, title=body.title, text_=body.text)
        await uow.commit()


@router.delete("/templates/{template_id}", status_code=204)
async def delete_template(template_id: uuid.UUID, official: CurrentOfficial, uow: Uow) -> None:
    """Delete a template of the caller's authority. Officials only."""
    async with uow:
        await admin.delete_template(uow, template_id, official.authorities)
        await uow.commit()


class AcceptIn(BaseModel):
    token: str = Field(min_length=10, max_length=200)


class Accepted(BaseModel):
    authority_id: uuid.UUID


@router.post("/invitations/accept", response_model=Accepted)
async def accept_invitation(body: AcceptIn, principal: OfficialPrincipal, uow: Uow) -> Accepted:
    """Join an authority with an operator's invitation. Any user with role ``official`` (no membership yet)."""
    async with uow:
        authority_id = await officials.accept_invitation(uow.session, token=body.token, user_id=user_id_of(principal))
        await uow.commit()
    return Accepted(authority_id=authority_id)
