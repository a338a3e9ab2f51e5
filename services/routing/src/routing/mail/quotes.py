"""Removing the quoted history (and the signature) from a reply, so only the new text remains.

Handles the common clients, Russian and English: ``> `` quoting with its attribution line ("On … wrote:",
"dd.mm.yyyy, hh:mm, X пишет:", Gmail's "пн, 15 янв. 2024 г. в 10:00, X <x@y>:", Mail.ru's "… от X <x@y>:"),
separator lines ("-----Original Message-----", "-----Исходное сообщение-----", "-------- Пересылаемое сообщение
--------"), Outlook's header block ("From:/От:" followed by "Sent:/Отправлено:/Date:/Дата:", "To:/Кому:",
"Subject:/Тема:"), a line of underscores before it, and the "-- " signature delimiter (RFC 3676).
Everything from the first such marker on is dropped; lines quoted with ">" are dropped wherever they are.
"""

from __future__ import annotations

import re

_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(original message|forwarded message|исходное сообщение|пересылаемое сообщение|"
    r"перенаправленное сообщение|начало переадресованного сообщения)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_SIGNATURE = re.compile(r"^-- ?$")
_DATE = r"(\d{1,2}[./]\d{1,2}[./]\d{2,4}|\d{4}-\d{2}-\d{2}|\d{1,2}\s+\w+\.?\s+\d{4})"
_ATTRIBUTION = [
    # "On Mon, 15 Jan 2024 at 10:00, Ivan <i@x.ru> wrote:" (possibly wrapped over two lines)
    re.compile(r"^\s*on\b.{0,200}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    # "15.01.2024, 10:00, Иван пишет:" / "15.01.2024 10:00, "Иван" <i@x.ru> пишет:" / "написал(а):"
    re.compile(r"^.{0,200}\b(пишет|написал|написала|написал\(а\)):\s*$", re.IGNORECASE | re.DOTALL),
    # Yandex: "15.01.2024, 10:00, "Иван" <i@x.ru>:"; Gmail ru: "пн, 15 янв. 2024 г. в 10:00, Иван <i@x.ru>:"
    re.compile(r"^.{0,60}" + _DATE + r".{0,40}\d{1,2}:\d{2}.{0,160}<[^<>@\s]+@[^<>\s]+>:\s*$", re.DOTALL),
    # Mail.ru: "Понедельник, 15 января 2024, 10:00 +03:00 от Иван <i@x.ru>:"
    re.compile(r"^.{0,80}\d{1,2}:\d{2}.{0,20}\bот\b.{0,160}:\s*$", re.IGNORECASE | re.DOTALL),
]
_OUTLOOK_FROM = re.compile(r"^\s*\*?(from|от|отправитель)\s*:\*?\s*\S", re.IGNORECASE)
_OUTLOOK_FIELDS = re.compile(r"^\s*\*?(sent|date|to|cc|subject|отправлено|дата|кому|копия|тема)\s*:", re.IGNORECASE)


_TIME = re.compile(r"\d{1,2}:\d{2}")


def _is_attribution(line: str) -> bool:
    return any(pattern.match(line) for pattern in _ATTRIBUTION)


def _outlook_block_at(lines: list[str], index: int) -> bool:
    """``From:`` followed (within the next five lines) by at least two of Sent/Date/To/Subject."""
    if not _OUTLOOK_FROM.match(lines[index]):
        return False
    following = [line for line in lines[index + 1 : index + 6] if _OUTLOOK_FIELDS.match(line)]
    return len(following) >= 2


def _quote_follows(lines: list[str], index: int) -> bool:
    """The next non-blank line after ``index`` is quoted, or there is none."""
    for line in lines[index + 1 :]:
        if line.strip():
            return line.lstrip().startswith(">")
    return True


def _attribution_at(lines: list[str], index: int) -> int:
    """How many lines the attribution starting at ``index`` spans (0: none). A client may wrap it in two.

    It counts when quoted text follows, or when it names a time (a sentence of the answer hardly does)."""
    for span in (1, 2):
        if index + span > len(lines):
            break
        candidate = " ".join(line.strip() for line in lines[index : index + span])
        if _is_attribution(candidate) and (_quote_follows(lines, index + span - 1) or _TIME.search(candidate)):
            return span
    return 0


def strip_quoted(text: str) -> str:
    """The new part of a reply: no quoted history, no signature; surrounding blank lines trimmed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = len(lines)
    for index, line in enumerate(lines):
        if (
            _SEPARATOR.match(line)
            or _SIGNATURE.match(line)
            or _outlook_block_at(lines, index)
            or (_UNDERSCORES.match(line) and index + 1 < len(lines) and _outlook_block_at(lines, index + 1))
            or _attribution_at(lines, index)
        ):
            cut = index
            break
    kept = [line for line in lines[:cut] if not line.lstrip().startswith(">")]
    return "\n".join(kept).strip()
