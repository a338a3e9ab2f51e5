"""The outcome of an answer that came by e-mail: solved, planned (with a date) or refused (with a reason).

The appeal letter asks the official to start the answer with a line "Результат: решено", "Результат:
запланировано на ДД.ММ.ГГГГ" or "Результат: отказ — причина"; that line wins. Without it the text is read:
a refusal ("отказано", "не представляется возможным"…) or a plan with a date ("запланировано на 15.05.2027",
"будет выполнено до 15 мая 2027 года"); otherwise the work is taken as done. A plan needs a date (59-FZ answer
rules in ``routing.domain.appeals``): a "planned" without any date is read as the text says otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

Outcome = Literal["solved", "planned", "refused"]

_MONTHS = {
    "январ": 1, "феврал": 2, "март": 3, "апрел": 4, "ма": 5, "июн": 6,
    "июл": 7, "август": 8, "сентябр": 9, "октябр": 10, "ноябр": 11, "декабр": 12,
}  # fmt: skip
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b")
_WORD_DATE = re.compile(r"\b(\d{1,2})\s+([а-яё]+)\s+(\d{4})\b", re.IGNORECASE)
_MARKER = re.compile(r"^\s*(результат|итог)\s*:\s*(?P<value>.+)$", re.IGNORECASE | re.MULTILINE)
_REFUSED = re.compile(
    r"(отказ|отказано|не представляется возможным|оснований для .{0,40} не имеется|не подлежит удовлетворению|"
    r"не относится к компетенции)",
    re.IGNORECASE,
)
_PLANNED = re.compile(
    r"(запланирован|включен[оаы]? в план|планируется|в срок до|в плане работ|"
    r"буд(ет|ут) (выполнен|проведен|устранен|отремонтирован|заменен|установлен))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ReadOutcome:
    outcome: Outcome
    planned_for: date | None = None
    refusal_reason: str | None = None
    text: str = ""
    """The answer's text without the "Результат:" line."""


def _first_date(text: str) -> date | None:
    candidates: list[tuple[int, date]] = []
    for match in _NUMERIC_DATE.finditer(text):
        day, month, year = (int(g) for g in match.groups())
        try:
            candidates.append((match.start(), date(year, month, day)))
        except ValueError:
            continue
    for match in _WORD_DATE.finditer(text):
        word = match.group(2).lower()
        found = next((number for stem, number in _MONTHS.items() if word.startswith(stem)), None)
        if found is None or (found == 5 and not word.startswith(("мая", "май"))):
            continue
        try:
            candidates.append((match.start(), date(int(match.group(3)), found, int(match.group(1)))))
        except ValueError:
            continue
    return min(candidates)[1] if candidates else None


def _reason(text: str) -> str:
    return " ".join(text.split())[:2000]


def read_outcome(text: str) -> ReadOutcome:
    marker = _MARKER.search(text)
    if marker:
        value = marker.group("value").strip()
        rest = (text[: marker.start()] + text[marker.end() :]).strip() or text.strip()
        lowered = value.lower()
        if lowered.startswith(("отказ", "отклон")):
            reason = re.sub(r"^(отказ\w*|отклонен\w*)\s*[—–:,.-]*\s*", "", value, flags=re.IGNORECASE).strip()
            return ReadOutcome("refused", refusal_reason=_reason(reason or rest), text=rest)
        planned_for = _first_date(value) or _first_date(rest)
        if lowered.startswith(("запланир", "план")) and planned_for is not None:
            return ReadOutcome("planned", planned_for=planned_for, text=rest)
        if lowered.startswith(("решен", "выполнен", "устранен")):
            return ReadOutcome("solved", text=rest)
    if _REFUSED.search(text):
        return ReadOutcome("refused", refusal_reason=_reason(text), text=text.strip())
    if _PLANNED.search(text):
        planned = _first_date(text)
        if planned is not None:
            return ReadOutcome("planned", planned_for=planned, text=text.strip())
    return ReadOutcome("solved", text=text.strip())
