"""The formal appeal e-mail (Russian), with what Federal Law 59-FZ asks of a written appeal.

Art. 7: the addressee (the authority), the applicant's surname, name (and patronymic), an address for the answer
(postal and/or e-mail), the substance of the appeal, and the date. The place and the photos are the substance of a
city problem, so they are given in full: address, coordinates with a map link, photo links. A report without an
applicant (anonymous) cannot be a citizen's appeal (art. 11 leaves such appeals unanswered), so it goes as the
platform's own report about a public problem, with no personal data at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

MOSCOW = ZoneInfo("Europe/Moscow")
APPEAL_ID_HEADER = "X-Gorod-Appeal-Id"


@dataclass(frozen=True)
class Applicant:
    full_name: str
    email: str
    postal_address: str | None = None


@dataclass(frozen=True)
class AppealLetter:
    """Everything the e-mail says. ``number`` is the appeal's public number if it has one."""

    appeal_id: uuid.UUID
    authority_name: str
    authority_email: str
    category_name: str
    title: str
    description: str
    address: str
    lon: float
    lat: float
    published_at: datetime
    applicant: Applicant | None
    photos: tuple[str, ...] = ()
    public_url: str | None = None
    number: str | None = None
    reason: str | None = None
    """Why this authority (shown so the official can forward quickly if it is not theirs)."""
    registration_due_at: datetime | None = None
    repeat_of: uuid.UUID | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())
    time_zone: str = "Europe/Moscow"


def _when(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%d.%m.%Y %H:%M")


def _day(moment: datetime | date, tz: ZoneInfo) -> str:
    if isinstance(moment, datetime):
        moment = moment.astimezone(tz).date()
    return moment.strftime("%d.%m.%Y")


def subject(letter: AppealLetter) -> str:
    number = letter.number or str(letter.appeal_id)[:8]
    kind = "Обращение гражданина" if letter.applicant else "Сообщение о проблеме"
    repeat = "Повторное " + kind[0].lower() + kind[1:] if letter.repeat_of else kind
    title = " ".join(letter.title.split())
    if len(title) > 120:
        title = title[:119].rstrip() + "…"
    return f"{repeat} № {number}: {title}"


def body(letter: AppealLetter, *, reply_to: str) -> str:
    """The plain-text body."""
    tz = ZoneInfo(letter.time_zone)
    number = letter.number or str(letter.appeal_id)
    lines: list[str] = [f"В {letter.authority_name}", ""]
    if letter.applicant:
        applicant = letter.applicant
        lines += [
            f"От: {applicant.full_name}",
            f"Адрес электронной почты для ответа: {applicant.email}",
        ]
        if applicant.postal_address:
            lines.append(f"Почтовый адрес для ответа: {applicant.postal_address}")
        lines += [
            "",
            ("ПОВТОРНОЕ ОБРАЩЕНИЕ" if letter.repeat_of else "ОБРАЩЕНИЕ") + f" № {number}",
            "",
            "В соответствии с Федеральным законом от 02.05.2006 № 59-ФЗ «О порядке рассмотрения обращений граждан "
            "Российской Федерации» направляю обращение по вопросу, относящемуся к Вашей компетенции.",
        ]
    else:
        lines += [
            "От: платформа «Город»",
            "",
            ("ПОВТОРНОЕ СООБЩЕНИЕ" if letter.repeat_of else "СООБЩЕНИЕ") + f" О ПРОБЛЕМЕ № {number}",
            "",
            "Платформа «Город» сообщает о проблеме, опубликованной жителем без указания своих персональных данных. "
            "Просим рассмотреть её в пределах Вашей компетенции и сообщить о принятых мерах: ответ будет "
            "опубликован на странице проблемы.",
        ]
    if letter.repeat_of:
        lines += ["", f"Повторно по обращению № {letter.repeat_of}: заявитель не согласен с полученным ответом."]
    lines += [
        "",
        f"Категория: {letter.category_name}",
        f"Суть: {letter.title.strip()}",
        "",
        letter.description.strip(),
        "",
        f"Место: {letter.address}",
        f"Координаты: {letter.lat:.6f}, {letter.lon:.6f} "
        f"(https://www.openstreetmap.org/?mlat={letter.lat:.6f}&mlon={letter.lon:.6f}#map=18/{letter.lat:.6f}/{letter.lon:.6f})",
    ]
    for code, value in letter.extra:
        lines.append(f"{code}: {value}")
    if letter.photos:
        lines += ["", "Фотографии:"]
        lines += [f"{index}. {url}" for index, url in enumerate(letter.photos, 1)]
    if letter.public_url:
        lines += ["", f"Страница проблемы: {letter.public_url}"]
    lines += ["", f"Опубликовано: {_when(letter.published_at, tz)}"]
    if letter.reason:
        lines += ["", f"Почему обращение направлено Вам: {letter.reason}"]
    lines += [
        "",
        "Срок рассмотрения — 30 дней со дня регистрации (ст. 12 Федерального закона № 59-ФЗ). Если вопрос не "
        "относится к Вашей компетенции, обращение в течение 7 дней со дня регистрации направляется в орган, "
        "к компетенции которого он относится, с уведомлением заявителя (ч. 3 ст. 8).",
    ]
    if letter.registration_due_at:
        lines.append(f"Просим зарегистрировать обращение не позднее {_day(letter.registration_due_at, tz)}.")
    lines += [
        "",
        f"Ответ направьте, пожалуйста, ответом на это письмо (на адрес {reply_to}): текст ответа и вложения будут "
        "переданы заявителю и опубликованы на странице проблемы. Не изменяйте адрес получателя.",
        "Первой строкой ответа укажите результат: «Результат: решено», «Результат: запланировано на ДД.ММ.ГГГГ» "
        "или «Результат: отказ — причина».",
    ]
    if letter.applicant:
        lines += ["", letter.applicant.full_name, _day(letter.published_at, tz)]
    else:
        lines += ["", "Платформа «Город»", _day(letter.published_at, tz)]
    return "\n".join(lines) + "\n"


def compose(letter: AppealLetter, *, from_address: str, from_name: str, reply_to: str, now: datetime) -> EmailMessage:
    """The message, ready for SMTP. Its ``Message-ID`` lets replies be matched by ``In-Reply-To`` too."""
    message = EmailMessage()
    local, _, domain = from_address.partition("@")
    message["From"] = Address(display_name=from_name, username=local, domain=domain)
    message["To"] = letter.authority_email
    message["Reply-To"] = reply_to
    message["Subject"] = subject(letter)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(idstring=f"appeal-{letter.appeal_id}", domain=domain or "gorod.local")
    message[APPEAL_ID_HEADER] = str(letter.appeal_id)
    message["Content-Language"] = "ru"
    message.set_content(body(letter, reply_to=reply_to))  # UTF-8, quoted-printable or base64 as needed
    return message


@dataclass(frozen=True)
class Reminder:
    """A reminder to an authority 3 days before a deadline of one of its appeals."""

    appeal_id: uuid.UUID
    kind: str
    """``registration`` or ``answer``."""
    due_at: datetime
    authority_name: str
    authority_email: str
    title: str
    address: str
    number: str | None = None
    time_zone: str = "Europe/Moscow"


def compose_reminder(
    reminder: Reminder, *, from_address: str, from_name: str, reply_to: str, now: datetime
) -> EmailMessage:
    tz = ZoneInfo(reminder.time_zone)
    number = reminder.number or str(reminder.appeal_id)[:8]
    what = "зарегистрировать обращение" if reminder.kind == "registration" else "дать ответ на обращение"
    lines = [
        f"В {reminder.authority_name}",
        "",
        f"Напоминаем: до {_when(reminder.due_at, tz)} необходимо {what} № {number}.",
        "",
        f"Суть: {reminder.title.strip()}",
        f"Место: {reminder.address}",
        "",
        "Срок установлен Федеральным законом от 02.05.2006 № 59-ФЗ. Если срок будет пропущен, обращение станет "
        "просроченным и будет направлено в надзорный орган.",
        "",
        f"Ответ можно направить ответом на это письмо (на адрес {reply_to}).",
        "",
        "Платформа «Город»",
    ]
    message = EmailMessage()
    local, _, domain = from_address.partition("@")
    message["From"] = Address(display_name=from_name, username=local, domain=domain)
    message["To"] = reminder.authority_email
    message["Reply-To"] = reply_to
    message["Subject"] = f"Напоминание: срок по обращению № {number} истекает {_day(reminder.due_at, tz)}"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(idstring=f"reminder-{reminder.appeal_id}", domain=domain or "gorod.local")
    message[APPEAL_ID_HEADER] = str(reminder.appeal_id)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to a reminder, please
    message["Content-Language"] = "ru"
    message.set_content("\n".join(lines) + "\n")
    return message
