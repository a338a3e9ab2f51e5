"""59-FZ deadlines, computed in the authority's time zone with the Russian production calendar.

Which rules count working days and which count calendar days (see docs/routing.md):

- registration: **3 working days** after the day the appeal arrived (59-FZ art. 8 p. 2 says "в течение трёх
  дней"; office-work instructions count working days, and an appeal that arrives before the May holidays must
  not go overdue while the office is closed);
- forwarding to the competent authority: **7 calendar days** from registration (art. 8 p. 3);
- answer: **30 calendar days** from registration (art. 12 p. 1); an extension adds up to 30 calendar days,
  once (art. 12 p. 2).

A calendar-day deadline whose last day is a day off moves to the next working day (as Civil Code art. 193 does
for every term). A deadline ends at 23:59:59 local time of its last day. The day of the triggering event itself
is never counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

REGISTRATION_WORKING_DAYS = 3
FORWARD_CALENDAR_DAYS = 7
ANSWER_CALENDAR_DAYS = 30
MAX_EXTENSION_DAYS = 30
REMINDER_BEFORE = timedelta(days=3)
_END_OF_DAY = time(23, 59, 59)


@lru_cache(maxsize=64)
def _public_holidays(country: str, subdiv: str | None) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdiv)


@dataclass(frozen=True)
class WorkingCalendar:
    """An authority's working days: the country's production calendar (days off and working weekends, from the
    ``holidays`` package) plus the authority's own exceptions."""

    timezone: str = "Europe/Moscow"
    country: str = "RU"
    subdiv: str | None = None
    extra_holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        return bool(_public_holidays(self.country, self.subdiv).is_working_day(day))

    def add_working_days(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day`` (``day`` itself not counted)."""
        if count < 1:
            raise ValueError("count must be positive")
        current = day
        while count:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count -= 1
        return current

    def working_day_on_or_after(self, day: date) -> date:
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def local_day(self, moment: datetime) -> date:
        if moment.tzinfo is None:
            raise ValueError("moments must be aware (UTC)")
        return moment.astimezone(self.zone).date()

    def end_of(self, day: date) -> datetime:
        """23:59:59 of ``day`` in the authority's zone, as an aware datetime."""
        return datetime.combine(day, _END_OF_DAY, tzinfo=self.zone)


def registration_due(calendar: WorkingCalendar, received_at: datetime) -> datetime:
    return calendar.end_of(calendar.add_working_days(calendar.local_day(received_at), REGISTRATION_WORKING_DAYS))


def _calendar_days(calendar: WorkingCalendar, start: date, days: int) -> datetime:
    return calendar.end_of(calendar.working_day_on_or_after(start + timedelta(days=days)))


def forward_due(calendar: WorkingCalendar, registered_at: datetime) -> datetime:
    return _calendar_days(calendar, calendar.local_day(registered_at), FORWARD_CALENDAR_DAYS)


def answer_due(calendar: WorkingCalendar, registered_at: datetime) -> datetime:
    return _calendar_days(calendar, calendar.local_day(registered_at), ANSWER_CALENDAR_DAYS)


def extended_answer_due(calendar: WorkingCalendar, current_due: datetime, days: int) -> datetime:
    """The answer deadline after an extension by ``days`` calendar days (1…30)."""
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise ValueError(f"an extension is 1…{MAX_EXTENSION_DAYS} days")
    return _calendar_days(calendar, calendar.local_day(current_due), days)


def reminder_at(due_at: datetime) -> datetime:
    """When officials are reminded of a deadline: three days before it."""
    return due_at - REMINDER_BEFORE
