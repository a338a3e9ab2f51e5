"""The appeal's life under 59-FZ as a pure state machine.

``sent`` → ``registered`` → ``in_work`` → ``answered``; from ``registered``/``in_work`` an appeal may instead be
``forwarded`` to the competent authority (until the forwarding deadline) or extended once by up to 30 days.
Each function checks the rule and returns the appeal's next state; persisting it is the use cases' job.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from routing.domain import deadlines
from routing.domain.deadlines import WorkingCalendar


class Status(StrEnum):
    SENT = "sent"
    REGISTERED = "registered"
    IN_WORK = "in_work"
    ANSWERED = "answered"
    FORWARDED = "forwarded"


OPEN = frozenset({Status.SENT, Status.REGISTERED, Status.IN_WORK})
REGISTERED_OPEN = frozenset({Status.REGISTERED, Status.IN_WORK})


class Outcome(StrEnum):
    SOLVED = "solved"
    PLANNED = "planned"
    REFUSED = "refused"


class TransitionError(Exception):
    """A step the rules do not allow now; ``detail`` is Russian, for the official."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class AppealState:
    id: uuid.UUID
    status: Status
    sent_at: datetime
    registration_due_at: datetime
    registered_at: datetime | None = None
    forward_due_at: datetime | None = None
    answer_due_at: datetime | None = None
    extended_by_days: int | None = None
    extension_reason: str | None = None
    answered_at: datetime | None = None
    department_id: uuid.UUID | None = None
    assignee_user_id: uuid.UUID | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


def new_appeal(appeal_id: uuid.UUID, calendar: WorkingCalendar, sent_at: datetime) -> AppealState:
    return AppealState(
        id=appeal_id,
        status=Status.SENT,
        sent_at=sent_at,
        registration_due_at=deadlines.registration_due(calendar, sent_at),
    )


def register(state: AppealState, calendar: WorkingCalendar, now: datetime) -> AppealState:
    if state.status is not Status.SENT:
        raise TransitionError("Обращение уже зарегистрировано.")
    return dataclasses.replace(
        state,
        status=Status.REGISTERED,
        registered_at=now,
        forward_due_at=deadlines.forward_due(calendar, now),
        answer_due_at=deadlines.answer_due(calendar, now),
    )


def assign(state: AppealState, *, department_id: uuid.UUID | None, assignee_user_id: uuid.UUID | None) -> AppealState:
    if state.status is Status.SENT:
        raise TransitionError("Сначала зарегистрируйте обращение, затем назначайте исполнителя.")
    if state.status not in REGISTERED_OPEN:
        raise TransitionError("Обращение закрыто: назначить исполнителя нельзя.")
    if department_id is None and assignee_user_id is None:
        raise TransitionError("Укажите подразделение или сотрудника.")
    return dataclasses.replace(
        state, status=Status.IN_WORK, department_id=department_id, assignee_user_id=assignee_user_id
    )


def check_answer(outcome: Outcome, planned_for: date | None, refusal_reason: str | None, text: str) -> None:
    if not text.strip():
        raise TransitionError("Ответ не может быть пустым.")
    if outcome is Outcome.PLANNED and planned_for is None:
        raise TransitionError("Для ответа «запланировано» укажите дату выполнения работ.")
    if outcome is Outcome.REFUSED and not (refusal_reason and refusal_reason.strip()):
        raise TransitionError("Для отказа укажите причину.")


def answer(
    state: AppealState,
    calendar: WorkingCalendar,
    now: datetime,
    *,
    outcome: Outcome,
    text: str,
    planned_for: date | None = None,
    refusal_reason: str | None = None,
) -> tuple[AppealState, bool]:
    """The answered state and whether it is on time. An appeal answered straight from ``sent`` (an authority
    that answers by e-mail without registering in the cabinet) counts as registered at that moment."""
    if state.status not in OPEN:
        raise TransitionError("На обращение уже дан ответ или оно переадресовано.")
    check_answer(outcome, planned_for, refusal_reason, text)
    if state.status is Status.SENT:
        state = register(state, calendar, now)
    assert state.answer_due_at is not None
    on_time = now <= state.answer_due_at
    return dataclasses.replace(state, status=Status.ANSWERED, answered_at=now), on_time


def forward(state: AppealState, now: datetime) -> AppealState:
    if state.status is Status.SENT:
        raise TransitionError("Сначала зарегистрируйте обращение: переадресация возможна после регистрации.")
    if state.status not in REGISTERED_OPEN:
        raise TransitionError("Обращение закрыто: переадресовать его нельзя.")
    assert state.forward_due_at is not None
    if now > state.forward_due_at:
        raise TransitionError(
            "Срок переадресации истёк: по 59-ФЗ обращение переадресуется в течение 7 дней со дня регистрации."
        )
    return dataclasses.replace(state, status=Status.FORWARDED)


def extend(state: AppealState, calendar: WorkingCalendar, *, days: int, reason: str) -> AppealState:
    if state.status not in REGISTERED_OPEN:
        raise TransitionError("Продлить срок можно только у зарегистрированного обращения без ответа.")
    if state.extended_by_days is not None:
        raise TransitionError("Срок ответа уже продлевался: по 59-ФЗ продление возможно только один раз.")
    if not 1 <= days <= deadlines.MAX_EXTENSION_DAYS:
        raise TransitionError("Срок можно продлить на 1–30 дней.")
    if not reason.strip():
        raise TransitionError("Укажите причину продления срока.")
    assert state.answer_due_at is not None
    return dataclasses.replace(
        state,
        answer_due_at=deadlines.extended_answer_due(calendar, state.answer_due_at, days),
        extended_by_days=days,
        extension_reason=reason.strip(),
    )


@dataclass(frozen=True)
class DueDeadline:
    kind: str  # "registration" or "answer"
    due_at: datetime


def open_deadline(state: AppealState) -> DueDeadline | None:
    """The deadline in force for an open appeal: registration while unregistered, then the answer."""
    if state.status is Status.SENT:
        return DueDeadline("registration", state.registration_due_at)
    if state.status in REGISTERED_OPEN and state.answer_due_at is not None:
        return DueDeadline("answer", state.answer_due_at)
    return None


def is_overdue(state: AppealState, now: datetime) -> bool:
    deadline = open_deadline(state)
    return deadline is not None and now > deadline.due_at
