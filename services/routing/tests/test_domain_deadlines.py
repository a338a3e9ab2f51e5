"""59-FZ deadlines and the appeal state machine: pure unit tests, no I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from routing.domain import appeals, deadlines
from routing.domain.appeals import Outcome, Status, TransitionError
from routing.domain.deadlines import WorkingCalendar

MSK = WorkingCalendar("Europe/Moscow")
VLAD = WorkingCalendar("Asia/Vladivostok")


def msk(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo("Europe/Moscow")).astimezone(UTC)


def local_date(moment: datetime, calendar: WorkingCalendar = MSK) -> date:
    return moment.astimezone(calendar.zone).date()


def test_production_calendar_knows_russian_days_off_and_working_saturdays() -> None:
    assert not MSK.is_working_day(date(2026, 1, 5))  # New Year holidays
    assert not MSK.is_working_day(date(2026, 6, 12))  # Russia Day, a Friday
    assert MSK.is_working_day(date(2024, 12, 28))  # a working Saturday (transferred)
    assert not MSK.is_working_day(date(2026, 11, 21))  # an ordinary Saturday
    assert MSK.is_working_day(date(2026, 11, 23))


def test_authority_exceptions_override_the_country_calendar() -> None:
    own = WorkingCalendar(
        extra_holidays=frozenset({date(2026, 11, 23)}), extra_workdays=frozenset({date(2026, 11, 22)})
    )
    assert not own.is_working_day(date(2026, 11, 23))
    assert own.is_working_day(date(2026, 11, 22))


def test_registration_counts_three_working_days_after_arrival() -> None:
    # Thursday 19 Nov → Fri 20, Mon 23, Tue 24.
    due = deadlines.registration_due(MSK, msk(2026, 11, 19))
    assert local_date(due) == date(2026, 11, 24)
    assert due.astimezone(MSK.zone).time().isoformat() == "23:59:59"


def test_registration_skips_the_new_year_holidays() -> None:
    # Arrives on 30 Dec 2025 (Tue): 31 Dec is a day off in 2025? the calendar decides; 1–11 Jan are days off.
    due = deadlines.registration_due(MSK, msk(2025, 12, 30))
    days = [date(2025, 12, 30) + timedelta(days=i) for i in range(1, (local_date(due) - date(2025, 12, 30)).days + 1)]
    assert sum(MSK.is_working_day(d) for d in days) == 3
    assert local_date(due) >= date(2026, 1, 12)


def test_arrival_day_is_the_local_one() -> None:
    # 20:30 UTC on Thursday (23:30 in Moscow) is already Friday in Vladivostok: three working days from Friday.
    arrived = datetime(2026, 11, 19, 20, 30, tzinfo=UTC)
    assert local_date(deadlines.registration_due(VLAD, arrived), VLAD) == date(2026, 11, 25)
    assert local_date(deadlines.registration_due(MSK, arrived)) == date(2026, 11, 24)


def test_answer_is_thirty_calendar_days_moved_off_a_day_off() -> None:
    # Registered Mon 2 Nov 2026 → 2 Dec (Wed), a working day: stays.
    assert local_date(deadlines.answer_due(MSK, msk(2026, 11, 2))) == date(2026, 12, 2)
    # Registered Thu 5 Nov → 5 Dec is a Saturday → Monday 7 Dec.
    assert local_date(deadlines.answer_due(MSK, msk(2026, 11, 5))) == date(2026, 12, 7)
    # Registered 13 May 2026 → 12 June, Russia Day (Friday) → Monday 15 June.
    assert local_date(deadlines.answer_due(MSK, msk(2026, 5, 13))) == date(2026, 6, 15)


def test_forwarding_is_seven_calendar_days() -> None:
    assert local_date(deadlines.forward_due(MSK, msk(2026, 11, 2))) == date(2026, 11, 9)


def test_extension_limits() -> None:
    base = deadlines.answer_due(MSK, msk(2026, 11, 2))
    assert local_date(deadlines.extended_answer_due(MSK, base, 30)) == date(2027, 1, 11)  # 1 Jan → after holidays
    for bad in (0, 31):
        with pytest.raises(ValueError, match="extension"):
            deadlines.extended_answer_due(MSK, base, bad)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        MSK.local_day(datetime(2026, 1, 1))


def _sent(at: datetime | None = None) -> appeals.AppealState:
    return appeals.new_appeal(uuid.uuid4(), MSK, at or msk(2026, 11, 2))


def test_lifecycle_register_assign_answer_on_time() -> None:
    state = _sent()
    assert state.status is Status.SENT
    state = appeals.register(state, MSK, msk(2026, 11, 3))
    assert state.status is Status.REGISTERED
    assert local_date(state.answer_due_at or msk(2000, 1, 1)) == date(2026, 12, 3)
    dept = uuid.uuid4()
    state = appeals.assign(state, department_id=dept, assignee_user_id=None)
    assert state.status is Status.IN_WORK
    assert state.department_id == dept
    state, on_time = appeals.answer(state, MSK, msk(2026, 11, 20), outcome=Outcome.SOLVED, text="Яма заделана.")
    assert state.status is Status.ANSWERED
    assert on_time


def test_late_answer_is_not_on_time() -> None:
    state = appeals.register(_sent(), MSK, msk(2026, 11, 3))
    _, on_time = appeals.answer(state, MSK, msk(2026, 12, 4), outcome=Outcome.SOLVED, text="Сделано.")
    assert not on_time


def test_answer_from_sent_registers_implicitly() -> None:
    state, on_time = appeals.answer(_sent(), MSK, msk(2026, 11, 4), outcome=Outcome.SOLVED, text="Готово.")
    assert state.registered_at == msk(2026, 11, 4)
    assert on_time


def test_register_twice_and_answer_twice_are_refused() -> None:
    state = appeals.register(_sent(), MSK, msk(2026, 11, 3))
    with pytest.raises(TransitionError):
        appeals.register(state, MSK, msk(2026, 11, 3))
    state, _ = appeals.answer(state, MSK, msk(2026, 11, 5), outcome=Outcome.SOLVED, text="Да.")
    with pytest.raises(TransitionError):
        appeals.answer(state, MSK, msk(2026, 11, 6), outcome=Outcome.SOLVED, text="Ещё раз.")
    with pytest.raises(TransitionError):
        appeals.extend(state, MSK, days=10, reason="Нужна экспертиза")


def test_answer_outcomes_need_their_details() -> None:
    state = appeals.register(_sent(), MSK, msk(2026, 11, 3))
    with pytest.raises(TransitionError, match="дату"):
        appeals.answer(state, MSK, msk(2026, 11, 5), outcome=Outcome.PLANNED, text="Сделаем.")
    with pytest.raises(TransitionError, match="причину"):
        appeals.answer(state, MSK, msk(2026, 11, 5), outcome=Outcome.REFUSED, text="Нет.", refusal_reason=" ")
    with pytest.raises(TransitionError, match="пуст"):
        appeals.answer(state, MSK, msk(2026, 11, 5), outcome=Outcome.SOLVED, text="  ")
    done, _ = appeals.answer(
        state, MSK, msk(2026, 11, 5), outcome=Outcome.PLANNED, text="Сделаем весной.", planned_for=date(2027, 5, 1)
    )
    assert done.status is Status.ANSWERED


def test_assign_needs_registration_and_a_target() -> None:
    with pytest.raises(TransitionError, match="зарегистрируйте"):
        appeals.assign(_sent(), department_id=uuid.uuid4(), assignee_user_id=None)
    state = appeals.register(_sent(), MSK, msk(2026, 11, 3))
    with pytest.raises(TransitionError):
        appeals.assign(state, department_id=None, assignee_user_id=None)


def test_forward_only_within_seven_days_of_registration() -> None:
    state = appeals.register(_sent(), MSK, msk(2026, 11, 2))
    with pytest.raises(TransitionError, match="зарегистрируйте"):
        appeals.forward(_sent(), msk(2026, 11, 3))
    assert appeals.forward(state, msk(2026, 11, 9, 23, 0)).status is Status.FORWARDED
    with pytest.raises(TransitionError, match="7 дней"):
        appeals.forward(state, msk(2026, 11, 10, 0, 1))


def test_extension_once_up_to_thirty_days_with_a_reason() -> None:
    state = appeals.register(_sent(), MSK, msk(2026, 11, 2))
    with pytest.raises(TransitionError, match="причину"):
        appeals.extend(state, MSK, days=10, reason="")
    with pytest.raises(TransitionError, match="1–30"):
        appeals.extend(state, MSK, days=31, reason="Экспертиза")
    extended = appeals.extend(state, MSK, days=14, reason="Нужна экспертиза")
    assert local_date(extended.answer_due_at or msk(2000, 1, 1)) == date(2026, 12, 16)
    assert extended.extended_by_days == 14
    with pytest.raises(TransitionError, match="один раз"):
        appeals.extend(extended, MSK, days=5, reason="Ещё")
    with pytest.raises(TransitionError):
        appeals.extend(_sent(), MSK, days=5, reason="Рано")


def test_open_deadline_and_overdue() -> None:
    sent = _sent(msk(2026, 11, 19))
    deadline = appeals.open_deadline(sent)
    assert deadline is not None
    assert deadline.kind == "registration"
    assert not appeals.is_overdue(sent, msk(2026, 11, 24, 23, 0))
    assert appeals.is_overdue(sent, msk(2026, 11, 25, 0, 1))
    registered = appeals.register(sent, MSK, msk(2026, 11, 20))
    deadline = appeals.open_deadline(registered)
    assert deadline is not None
    assert deadline.kind == "answer"
    answered, _ = appeals.answer(registered, MSK, msk(2026, 11, 21), outcome=Outcome.SOLVED, text="Да.")
    assert appeals.open_deadline(answered) is None
    assert not appeals.is_overdue(answered, msk(2027, 1, 1))


def test_reminder_three_days_before() -> None:
    due = msk(2026, 12, 2, 23, 59)
    assert deadlines.reminder_at(due) == due - timedelta(days=3)
