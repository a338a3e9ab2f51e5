"""Public statuses of a problem and how routing's appeal events move them. Plain rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

STATUS_NAMES: dict[str, str] = {
    "moderation": "На модерации",
    "published": "Опубликована",
    "sent": "Направлена",
    "registered": "Зарегистрирована",
    "in_work": "В работе",
    "answered": "Получен ответ",
    "solved": "Решена",
    "not_solved": "Не решена",
    "forwarded": "Переадресована",
    "rejected": "Отклонена модератором",
    "withdrawn": "Отозвана автором",
    "merged": "Объединена с дубликатом",
}

HIDDEN_STATUSES = frozenset({"moderation", "rejected", "withdrawn", "merged"})
"""Seen only by the author, moderators and operators."""
CLOSED_STATUSES = frozenset({"solved", "not_solved", "rejected", "withdrawn", "merged"})
"""Open311 ``closed``; everything else is ``open``."""
ROUTED_STATUSES = frozenset({"published", "sent", "registered", "in_work", "answered", "forwarded"})
"""Statuses routing's events may move a problem out of."""
OPEN_FOR_DUPLICATES = frozenset({"moderation", "published", "sent", "registered", "in_work", "answered", "forwarded"})


def status_name(status: str) -> str:
    return STATUS_NAMES.get(status, status)


def is_public(status: str) -> bool:
    return status not in HIDDEN_STATUSES


@dataclass(frozen=True)
class RoutingStep:
    """What one routing appeal event does to a problem: a new status (or None to keep it) and a timeline text."""

    status: str | None
    text: str


_OUTCOMES = {"solved": "проблема решена", "planned": "работы запланированы", "refused": "в решении отказано"}


def routing_step(verb: str, data: dict[str, object]) -> RoutingStep | None:
    """The effect of ``routing.appeal.<verb>.v1`` with payload ``data``; None for events we do not show."""
    authority = str(data.get("authority_name") or "")
    if verb == "sent":
        return RoutingStep("sent", f"Обращение направлено: {authority}")
    if verb == "registered":
        number = data.get("registration_number")
        suffix = f", номер {number}" if number else ""
        return RoutingStep("registered", f"Обращение зарегистрировано: {authority}{suffix}")
    if verb == "assigned":
        return RoutingStep("in_work", f"Взято в работу: {authority}")
    if verb == "answered":
        outcome = _OUTCOMES.get(str(data.get("outcome")), str(data.get("outcome")))
        return RoutingStep("answered", f"Получен ответ от «{authority}»: {outcome}")
    if verb == "forwarded":
        return RoutingStep(
            "forwarded", f"Обращение переадресовано: {data.get('to_authority_name')}. {data.get('reason')}"
        )
    if verb == "extended":
        return RoutingStep(None, f"Срок ответа продлён на {data.get('extended_by_days')} дн.: {data.get('reason')}")
    if verb == "overdue":
        which = "регистрации" if data.get("deadline") == "registration" else "ответа"
        return RoutingStep(None, f"Нарушен срок {which}: {authority}")
    if verb == "escalated":
        return RoutingStep(None, f"Обращение передано в надзорный орган: {data.get('supervisor_name')}")
    return None


def routing_may_move(current: str, new: str | None, *, last_applied: datetime | None, occurred_at: datetime) -> bool:
    """Routing moves only problems in a routed status, and never back in time (events may arrive out of order)."""
    if new is None or current not in ROUTED_STATUSES:
        return False
    return last_applied is None or occurred_at >= last_applied


def confirm_deadline(answered_at: datetime, days: int) -> datetime:
    return answered_at + timedelta(days=days)


def status_after_dispute(has_appeal: bool) -> str:
    """A disputed answer reopens the problem: back to "sent" when an appeal exists (routing repeats it)."""
    return "sent" if has_appeal else "published"


def status_after_window(last_outcome: str | None) -> str:
    """When the author neither confirmed nor disputed within the window: closed by the authority's word."""
    return "solved" if last_outcome == "solved" else "not_solved"
