"""Use cases of appeals: creation from a published problem, the officials' steps, repeat appeals, erasure.

Each function runs inside the caller's unit of work and records its events there; the caller commits.
Access (is this official a member of the appeal's authority?) is checked here through ``scope``: an appeal
of another authority is reported as not found, so that its existence is not revealed either.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from routing.db import repo
from routing.db.tables import (
    appeal_answers,
    appeal_applicants,
    appeal_attachments,
    appeal_events,
    appeal_notes,
    appeals,
    authorities,
    deliveries,
    officials,
    problems,
    territories,
)
from routing.domain import appeals as rules
from routing.domain.appeals import AppealState, Outcome, Status, TransitionError
from routing.domain.deadlines import WorkingCalendar
from routing.domain.jurisdiction import Administration, Decision, NoAuthority, Rule, TerritoryRef, decide
from routing.events import published
from servicekit.http.problems import ProblemError
from servicekit.uow import UnitOfWork

log = logging.getLogger(__name__)

NOT_FOUND = "Обращение не найдено."


@dataclass(frozen=True)
class Applicant:
    user_id: uuid.UUID | None
    full_name: str | None
    email: str | None
    postal_address: str | None


@dataclass(frozen=True)
class NewAttachment:
    """An answer's attachment: an external ``url``, or an uploaded file's ``content``."""

    url: str | None = None
    filename: str | None = None
    content_type: str | None = None
    content: bytes | None = None


@dataclass(frozen=True)
class ProblemFacts:
    problem_id: uuid.UUID
    category_id: uuid.UUID
    category_code: str
    category_name: str
    lon: float
    lat: float
    address: str
    title: str
    description: str
    photos: list[str]
    public_url: str | None
    author_id: uuid.UUID | None
    published_at: datetime


def calendar_of(row: Any) -> WorkingCalendar:
    """The working calendar of an authority (an authority row or an appeal context row)."""
    return WorkingCalendar(
        timezone=getattr(row, "authority_timezone", None) or row.timezone,
        country=row.calendar_country,
        subdiv=row.calendar_subdiv,
        extra_holidays=frozenset(row.extra_holidays or ()),
        extra_workdays=frozenset(row.extra_workdays or ()),
    )


def state_of(row: Any) -> AppealState:
    return AppealState(
        id=row.id,
        status=Status(row.status),
        sent_at=row.sent_at,
        registration_due_at=row.registration_due_at,
        registered_at=row.registered_at,
        forward_due_at=row.forward_due_at,
        answer_due_at=row.answer_due_at,
        extended_by_days=row.extended_by_days,
        extension_reason=row.extension_reason,
        answered_at=row.answered_at,
        department_id=row.department_id,
        assignee_user_id=row.assignee_user_id,
    )


def _now() -> datetime:
    return datetime.now(UTC)


async def _timeline(uow: UnitOfWork, appeal_id: uuid.UUID, kind: str, actor: uuid.UUID | None, **data: Any) -> None:
    await uow.session.execute(
        insert(appeal_events).values(appeal_id=appeal_id, kind=kind, actor_user_id=actor, data=data)
    )


async def _load(uow: UnitOfWork, appeal_id: uuid.UUID, scope: Collection[uuid.UUID] | None) -> Any:
    """The appeal, locked; ``scope`` = the authorities the caller acts for (None: the system itself)."""
    row = await repo.lock_appeal(uow.session, appeal_id)
    if row is None or (scope is not None and row.authority_id not in scope):
        raise ProblemError(404, NOT_FOUND)
    return row


# --- creation ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorityFacts:
    """What opening an appeal needs of its authority: the channel and the working calendar."""

    id: uuid.UUID
    name: str
    channel: str
    timezone: str
    calendar_country: str
    calendar_subdiv: str | None
    extra_holidays: list[date] | None
    extra_workdays: list[date] | None


def _authority_facts(row: Any, prefix: str) -> AuthorityFacts:
    return AuthorityFacts(
        id=getattr(row, f"{prefix}_id"),
        **{name: getattr(row, f"{prefix}_{name}") for name in repo.AUTHORITY_FACTS},
    )


async def resolve_with_authority(
    uow: UnitOfWork, lon: float, lat: float, category_code: str, category_name: str
) -> tuple[Decision, AuthorityFacts]:
    """Point + category → the authority (and its channel and calendar), in one statement through PostGIS."""
    rows = await repo.resolution(uow.session, lon, lat, category_code)
    facts: dict[uuid.UUID, AuthorityFacts] = {}
    rule_list: list[Rule] = []
    admin_list: list[Administration] = []
    for row in rows:
        if row.rule_authority_id is not None:
            facts[row.rule_authority_id] = _authority_facts(row, "rule_authority")
            rule_list.append(Rule(row.id, row.rule_authority_id, row.rule_authority_name, row.rule_note))
        if row.administration_id is not None:
            facts[row.administration_id] = _authority_facts(row, "administration")
            admin_list.append(Administration(row.id, row.administration_id, row.administration_name))
    decision = decide(
        [TerritoryRef(row.id, row.name, row.oktmo) for row in rows],
        rule_list,
        admin_list,
        category_code=category_code,
        category_name=category_name,
    )
    return decision, facts[decision.authority_id]


async def resolve(uow: UnitOfWork, lon: float, lat: float, category_code: str, category_name: str) -> Decision:
    """Point + category → the authority, through PostGIS (most specific territory first)."""
    decision, _authority = await resolve_with_authority(uow, lon, lat, category_code, category_name)
    return decision


async def store_problem(uow: UnitOfWork, facts: ProblemFacts) -> None:
    values = {
        "category_id": facts.category_id,
        "category_code": facts.category_code,
        "category_name": facts.category_name,
        "point": f"SRID=4326;POINT({facts.lon} {facts.lat})",
        "address": facts.address,
        "title": facts.title,
        "description": facts.description,
        "photos": facts.photos,
        "public_url": facts.public_url,
        "author_id": facts.author_id,
        "published_at": facts.published_at,
    }
    statement = pg_insert(problems).values(id=facts.problem_id, **values)
    await uow.session.execute(statement.on_conflict_do_update(index_elements=[problems.c.id], set_=values))


async def open_appeal(
    uow: UnitOfWork,
    *,
    problem_id: uuid.UUID,
    category_id: uuid.UUID,
    category_code: str,
    authority_id: uuid.UUID,
    territory_id: uuid.UUID | None,
    reason: str,
    applicant: Applicant | None,
    repeat_of: uuid.UUID | None = None,
    forwarded_from: uuid.UUID | None = None,
    now: datetime | None = None,
    authority: Any | None = None,
) -> uuid.UUID:
    """Create an appeal, deliver it through the authority's channel, record ``routing.appeal.sent.v1``.

    ``authority``: its facts when the caller has them already (the resolution's statement returns them).
    The appeal, its applicant row, its timeline and its delivery row are written by one statement."""
    now = now or _now()
    if authority is None:
        authority = await repo.authority(uow.session, authority_id)
        if authority is None:
            raise ProblemError(404, "Орган власти не найден.")
    appeal_id = uuid.uuid4()
    state = rules.new_appeal(appeal_id, calendar_of(authority), now)
    timeline = [
        {"appeal_id": appeal_id, "kind": "sent", "data": {"channel": authority.channel, "reason": reason}},
    ]
    if authority.channel in ("cabinet", "cabinet_and_email"):
        timeline.append({"appeal_id": appeal_id, "kind": "delivered", "data": {"channel": "cabinet"}})
    side_writes = [
        insert(appeal_applicants)
        .values(
            appeal_id=appeal_id,
            user_id=applicant.user_id if applicant else None,
            full_name=applicant.full_name if applicant else None,
            email=applicant.email if applicant else None,
            postal_address=applicant.postal_address if applicant else None,
        )
        .cte("new_applicant"),
        insert(appeal_events).values(timeline).cte("new_timeline"),
    ]
    if authority.channel in ("email", "cabinet_and_email"):
        side_writes.append(
            insert(deliveries).values(id=uuid.uuid4(), appeal_id=appeal_id, channel="email").cte("new_delivery")
        )
    # foreign keys are checked at the end of the statement, so the CTEs may write the appeal's rows first
    territory_oktmo = select(territories.c.oktmo).where(territories.c.id == territory_id).scalar_subquery()
    statement = (
        insert(appeals)
        .values(
            id=appeal_id,
            problem_id=problem_id,
            authority_id=authority_id,
            territory_id=territory_id,
            category_id=category_id,
            category_code=category_code,
            status=state.status.value,
            channel=authority.channel,
            reason=reason,
            repeat_of=repeat_of,
            forwarded_from=forwarded_from,
            reply_token=secrets.token_urlsafe(24),
            sent_at=now,
            registration_due_at=state.registration_due_at,
        )
        .add_cte(*side_writes)
        .returning(territory_oktmo.label("territory_oktmo"))
    )
    oktmo = (await uow.session.execute(statement)).scalar_one()
    row = SimpleNamespace(
        id=appeal_id,
        problem_id=problem_id,
        authority_id=authority_id,
        authority_name=authority.name,
        department_id=None,
        territory_id=territory_id,
        territory_oktmo=oktmo,
        category_id=category_id,
    )
    common = published.appeal_common(row, now)
    data = published.sent(
        common,
        channel=authority.channel,
        reason=reason,
        registration_due_at=state.registration_due_at,
        repeat_of=repeat_of,
    )
    uow.record(published.appeal_event("sent", appeal_id, data))
    return appeal_id


async def create_from_problem(uow: UnitOfWork, facts: ProblemFacts, applicant: Applicant | None) -> uuid.UUID | None:
    """On ``problems.problem.published.v1``: keep the problem's facts, find the authority, open the appeal.

    A problem that already has an appeal gets no second one (a re-publication after moderation, say).
    A point that no known territory covers opens nothing (logged)."""
    await store_problem(uow, facts)
    existing = await uow.session.execute(select(appeals.c.id).where(appeals.c.problem_id == facts.problem_id).limit(1))
    if existing.first() is not None:
        return None
    try:
        decision, authority = await resolve_with_authority(
            uow, facts.lon, facts.lat, facts.category_code, facts.category_name
        )
    except NoAuthority as error:
        log.warning("no authority for problem %s: %s", facts.problem_id, error)
        return None
    return await open_appeal(
        uow,
        problem_id=facts.problem_id,
        category_id=facts.category_id,
        category_code=facts.category_code,
        authority_id=decision.authority_id,
        territory_id=decision.location.id,
        reason=decision.reason,
        applicant=applicant,
        authority=authority,
    )


# --- the officials' steps -------------------------------------------------------------------------------------


async def register(
    uow: UnitOfWork,
    appeal_id: uuid.UUID,
    *,
    actor: uuid.UUID | None,
    scope: Collection[uuid.UUID] | None,
    number: str | None = None,
    now: datetime | None = None,
) -> None:
    now = now or _now()
    row = await _load(uow, appeal_id, scope)
    state = rules.register(state_of(row), calendar_of(row), now)
    assert state.answer_due_at is not None
    await repo.update_appeal(
        uow.session,
        appeal_id,
        status=state.status.value,
        registered_at=state.registered_at,
        forward_due_at=state.forward_due_at,
        answer_due_at=state.answer_due_at,
        registration_number=number,
    )
    await _timeline(uow, appeal_id, "registered", actor, number=number)
    data = published.registered(
        published.appeal_common(row, now), registered_at=now, answer_due_at=state.answer_due_at, number=number
    )
    uow.record(published.appeal_event("registered", appeal_id, data))


async def assign(
    uow: UnitOfWork,
    appeal_id: uuid.UUID,
    *,
    actor: uuid.UUID,
    scope: Collection[uuid.UUID],
    department_id: uuid.UUID | None,
    assignee_user_id: uuid.UUID | None,
    now: datetime | None = None,
) -> None:
    now = now or _now()
    row = await _load(uow, appeal_id, scope)
    assignee_name: str | None = None
    if department_id is not None:
        department = await repo.authority(uow.session, department_id)
        if department is None or department.kind != "department" or department.parent_id != row.authority_id:
            raise ProblemError(
                422,
                "Подразделение не найдено среди подведомственных служб вашего органа.",
                errors=[{"field": "body.department_id", "message": "Неизвестное подразделение."}],
            )
        assignee_name = department.name
    if assignee_user_id is not None:
        colleague = (
            await uow.session.execute(
                select(officials.c.position).where(
                    officials.c.user_id == assignee_user_id, officials.c.authority_id == row.authority_id
                )
            )
        ).first()
        if colleague is None:
            raise ProblemError(
                422,
                "Сотрудник не найден среди должностных лиц вашего органа.",
                errors=[{"field": "body.assignee_user_id", "message": "Неизвестный сотрудник."}],
            )
        assignee_name = colleague.position or assignee_name
    state = rules.assign(state_of(row), department_id=department_id, assignee_user_id=assignee_user_id)
    await repo.update_appeal(
        uow.session,
        appeal_id,
        status=state.status.value,
        department_id=department_id,
        assignee_user_id=assignee_user_id,
    )
    await _timeline(
        uow,
        appeal_id,
        "assigned",
        actor,
        department_id=str(department_id) if department_id else None,
        assignee_user_id=str(assignee_user_id) if assignee_user_id else None,
    )
    data = {**published.appeal_common(row, now, department_id=department_id), "assignee_name": assignee_name}
    uow.record(published.appeal_event("assigned", appeal_id, data))


async def record_answer(
    uow: UnitOfWork,
    appeal_id: uuid.UUID,
    *,
    text: str,
    outcome: str | Outcome = Outcome.SOLVED,
    planned_for: date | None = None,
    refusal_reason: str | None = None,
    attachments: Sequence[NewAttachment] = (),
    source: str = "cabinet",
    answered_by: str | None = None,
    author_user_id: uuid.UUID | None = None,
    scope: Collection[uuid.UUID] | None = None,
    now: datetime | None = None,
) -> uuid.UUID:
    """The authority's answer (from the cabinet, or parsed from an e-mail reply): ``routing.appeal.answered.v1``.

    Raises :class:`TransitionError` if the appeal is already answered or forwarded."""
    now = now or _now()
    row = await _load(uow, appeal_id, scope)
    outcome = Outcome(outcome)
    state, on_time = rules.answer(
        state_of(row),
        calendar_of(row),
        now,
        outcome=outcome,
        text=text,
        planned_for=planned_for,
        refusal_reason=refusal_reason,
    )
    answer_id = uuid.uuid4()
    if row.status == Status.SENT:  # answered without registering (e-mail): registered now
        await _timeline(uow, appeal_id, "registered", author_user_id, implicit=True)
    await repo.update_appeal(
        uow.session,
        appeal_id,
        status=state.status.value,
        registered_at=state.registered_at,
        forward_due_at=state.forward_due_at,
        answer_due_at=state.answer_due_at,
        answered_at=now,
    )
    await uow.session.execute(
        insert(appeal_answers).values(
            id=answer_id,
            appeal_id=appeal_id,
            text=text.strip(),
            outcome=outcome.value,
            planned_for=planned_for if outcome is Outcome.PLANNED else None,
            refusal_reason=refusal_reason.strip() if outcome is Outcome.REFUSED and refusal_reason else None,
            answered_by=answered_by,
            author_user_id=author_user_id,
            source=source,
            answered_at=now,
            on_time=on_time,
        )
    )
    urls: list[str] = []
    for attachment in attachments:
        attachment_id = uuid.uuid4()
        await uow.session.execute(
            insert(appeal_attachments).values(
                id=attachment_id,
                appeal_id=appeal_id,
                answer_id=answer_id,
                url=attachment.url,
                filename=attachment.filename,
                content_type=attachment.content_type,
                size=len(attachment.content) if attachment.content is not None else None,
                content=attachment.content,
            )
        )
        urls.append(attachment.url or f"/api/v1/appeals/{appeal_id}/attachments/{attachment_id}")
    await _timeline(uow, appeal_id, "answered", author_user_id, outcome=outcome.value, source=source)
    data = {
        **published.appeal_common(row, now),
        "answer_id": str(answer_id),
        "text": text.strip(),
        "outcome": outcome.value,
        "planned_for": planned_for.isoformat() if outcome is Outcome.PLANNED and planned_for else None,
        "refusal_reason": refusal_reason.strip() if outcome is Outcome.REFUSED and refusal_reason else None,
        "attachments": urls,
        "answered_at": now.isoformat(),
        "on_time": on_time,
        "answered_by": answered_by,
    }
    uow.record(published.appeal_event("answered", appeal_id, data))
    return answer_id


async def forward(
    uow: UnitOfWork,
    appeal_id: uuid.UUID,
    *,
    actor: uuid.UUID,
    scope: Collection[uuid.UUID],
    to_authority_id: uuid.UUID,
    reason: str,
    now: datetime | None = None,
) -> uuid.UUID:
    """Forward to the competent authority (within 7 days of registration): a new appeal there."""
    now = now or _now()
    row = await _load(uow, appeal_id, scope)
    if not reason.strip():
        raise ProblemError(
            422, "Укажите причину переадресации.", errors=[{"field": "body.reason", "message": "Обязательное поле."}]
        )
    target = await repo.authority(uow.session, to_authority_id)
    if target is None or not target.active or to_authority_id == row.authority_id:
        raise ProblemError(
            422,
            "Орган, в который переадресуется обращение, не найден.",
            errors=[{"field": "body.to_authority_id", "message": "Неизвестный орган власти."}],
        )
    state = rules.forward(state_of(row), now)
    applicant_row = await repo.applicant(uow.session, appeal_id)
    applicant = (
        Applicant(applicant_row.user_id, applicant_row.full_name, applicant_row.email, applicant_row.postal_address)
        if applicant_row is not None
        else None
    )
    new_reason = (
        f"Обращение переадресовано из органа «{row.authority_name}» как относящееся к вашей компетенции. "
        f"Причина: {reason.strip()}"
    )
    new_id = await open_appeal(
        uow,
        problem_id=row.problem_id,
        category_id=row.category_id,
        category_code=row.category_code,
        authority_id=to_authority_id,
        territory_id=row.territory_id,
        reason=new_reason,
        applicant=applicant,
        forwarded_from=appeal_id,
        now=now,
    )
    await repo.update_appeal(uow.session, appeal_id, status=state.status.value, forwarded_to=new_id)
    await _timeline(uow, appeal_id, "forwarded", actor, to_authority_id=str(to_authority_id), reason=reason.strip())
    new_row = await repo.lock_appeal(uow.session, new_id)
    data = {
        **published.appeal_common(row, now),
        "from_authority_id": str(row.authority_id),
        "to_authority_id": str(to_authority_id),
        "to_authority_name": target.name,
        "reason": reason.strip(),
        "registration_due_at": new_row.registration_due_at.isoformat() if new_row else None,
    }
    uow.record(published.appeal_event("forwarded", appeal_id, data))
    return new_id


async def extend(
    uow: UnitOfWork,
    appeal_id: uuid.UUID,
    *,
    actor: uuid.UUID,
    scope: Collection[uuid.UUID],
    days: int,
    reason: str,
    now: datetime | None = None,
) -> datetime:
    now = now or _now()
    row = await _load(uow, appeal_id, scope)
    state = rules.extend(state_of(row), calendar_of(row), days=days, reason=reason)
    assert state.answer_due_at is not None
    await repo.update_appeal(
        uow.session,
        appeal_id,
        answer_due_at=state.answer_due_at,
        extended_by_days=state.extended_by_days,
        extension_reason=state.extension_reason,
    )
    await _timeline(uow, appeal_id, "extended", actor, days=days, reason=state.extension_reason)
    data = {
        **published.appeal_common(row, now),
        "answer_due_at": state.answer_due_at.isoformat(),
        "extended_by_days": days,
        "reason": state.extension_reason,
    }
    uow.record(published.appeal_event("extended", appeal_id, data))
    return state.answer_due_at


async def add_note(
    uow: UnitOfWork, appeal_id: uuid.UUID, *, actor: uuid.UUID, scope: Collection[uuid.UUID], text: str
) -> uuid.UUID:
    await _load(uow, appeal_id, scope)
    note_id = uuid.uuid4()
    await uow.session.execute(
        insert(appeal_notes).values(id=note_id, appeal_id=appeal_id, author_user_id=actor, text=text.strip())
    )
    return note_id


async def appeal_id_by_reply_token(session: Any, token: str) -> uuid.UUID | None:
    row = (await session.execute(select(appeals.c.id).where(appeals.c.reply_token == token))).first()
    return row[0] if row else None


# --- repeat appeals and escalation -------------------------------------------------------------------------


async def supervisor_of(uow: UnitOfWork, territory_id: uuid.UUID | None, category_code: str) -> Any:
    """The supervisory authority configured for the territory (or its nearest ancestor) and category."""
    chain = await repo.territory_chain(uow.session, territory_id) if territory_id else []
    return await repo.supervisor_for(uow.session, chain, category_code)


def escalation_data(
    row: Any, supervisor: Any, *, cause: str, repeat_appeal_id: uuid.UUID | None, now: datetime
) -> dict[str, Any]:
    return {
        **published.appeal_common(row, now),
        "supervisor_id": str(supervisor.id),
        "supervisor_name": supervisor.name,
        "cause": cause,
        "repeat_appeal_id": str(repeat_appeal_id) if repeat_appeal_id else None,
    }


async def escalate(uow: UnitOfWork, row: Any, *, cause: str, repeat_appeal_id: uuid.UUID | None, now: datetime) -> bool:
    """Notify the supervisory authority configured for the appeal's territory and category."""
    supervisor = await supervisor_of(uow, row.territory_id, row.category_code)
    if supervisor is None:
        log.warning("no supervisor for appeal %s (territory %s)", row.id, row.territory_id)
        return False
    await _timeline(uow, row.id, "escalated", None, cause=cause, supervisor_id=str(supervisor.id))
    data = escalation_data(row, supervisor, cause=cause, repeat_appeal_id=repeat_appeal_id, now=now)
    uow.record(published.appeal_event("escalated", row.id, data))
    return True


async def open_repeat(
    uow: UnitOfWork,
    problem_id: uuid.UUID,
    *,
    appeal_id: uuid.UUID | None,
    cause: str,
    citizen_words: str | None,
    now: datetime | None = None,
) -> uuid.UUID | None:
    """A dispute or a low rating of an answer: a repeat appeal to the same authority, linked to the first, and
    the supervisor is told (``routing.appeal.escalated.v1``). Nothing if no answered appeal is found."""
    now = now or _now()
    first = await repo.lock_appeal(uow.session, appeal_id) if appeal_id else None
    if first is None or first.problem_id != problem_id:
        first = await repo.latest_appeal_of_problem(uow.session, problem_id)
    if first is None or first.status != Status.ANSWERED:
        log.info("no answered appeal for problem %s: no repeat appeal", problem_id)
        return None
    while first.repeat_of is not None:  # link every repeat to the very first appeal
        earlier = await repo.lock_appeal(uow.session, first.repeat_of)
        if earlier is None:
            break
        first = earlier
    why = {
        "disputed": "заявитель не согласен с ответом",
        "low_rating": "заявитель оценил ответ как неудовлетворительный",
    }[cause]
    reason = f"Повторное обращение: {why} на обращение от {first.sent_at.date():%d.%m.%Y}."
    if citizen_words:
        reason += f" Слова заявителя: «{citizen_words.strip()}»."
    applicant_row = await repo.applicant(uow.session, first.id)
    applicant = (
        Applicant(applicant_row.user_id, applicant_row.full_name, applicant_row.email, applicant_row.postal_address)
        if applicant_row is not None
        else None
    )
    repeat_id = await open_appeal(
        uow,
        problem_id=problem_id,
        category_id=first.category_id,
        category_code=first.category_code,
        authority_id=first.authority_id,
        territory_id=first.territory_id,
        reason=reason,
        applicant=applicant,
        repeat_of=first.id,
        now=now,
    )
    await escalate(uow, first, cause=cause, repeat_appeal_id=repeat_id, now=now)
    return repeat_id


# --- personal data -------------------------------------------------------------------------------------------


async def erase_applicant(uow: UnitOfWork, user_id: uuid.UUID, now: datetime | None = None) -> int:
    """``auth.user.erased.v1``: the applicant's name, e-mail and address go from every appeal of theirs."""
    result = await uow.session.execute(
        update(appeal_applicants)
        .where(appeal_applicants.c.user_id == user_id)
        .values(user_id=None, full_name=None, email=None, postal_address=None, erased_at=now or _now())
    )
    await uow.session.execute(update(problems).where(problems.c.author_id == user_id).values(author_id=None))
    return int(getattr(result, "rowcount", 0) or 0)


async def authority_name(uow: UnitOfWork, authority_id: uuid.UUID) -> str | None:
    row = (await uow.session.execute(select(authorities.c.name).where(authorities.c.id == authority_id))).first()
    return row[0] if row else None


__all__ = [
    "Applicant",
    "NewAttachment",
    "ProblemFacts",
    "TransitionError",
    "appeal_id_by_reply_token",
    "create_from_problem",
    "record_answer",
]
