"""Reading what comes back: replies without their quoted history, attachments, bounces, auto-replies. No I/O."""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage
from typing import Any

import pytest

from routing.mail.inbound import InboundMail, html_to_text, parse
from routing.mail.outcome import read_outcome
from routing.mail.quotes import strip_quoted

TOKEN = "k7p2qv3mx5nbr4tz6wy2ac3de4fg5hj6"
OURS = f"appeal+{TOKEN}@gorod.example"
ANSWER = "Яма заделана 20.11.2026, работы выполнены подрядчиком МКУ «Благоустройство Коломны»."


def read(raw: bytes, **kwargs: Any) -> InboundMail:
    return parse(raw, local_part="appeal", domain="gorod.example", **kwargs)


# ----------------------------------------------------------------------------------------- quoted history

QUOTED_CASES = {
    "yandex": f"""{ANSWER}

22.11.2026, 12:30, "Платформа «Город»" <obrashcheniya@gorod.example>:
> В Администрация Городского округа Коломна
> От: Смирнова Анна Петровна
""",
    "thunderbird_ru": f"""{ANSWER}

22.11.2026 12:30, Платформа «Город» пишет:
> ОБРАЩЕНИЕ № 42
""",
    "mailru": f"""{ANSWER}


Понедельник, 23 ноября 2026, 10:15 +03:00 от Платформа «Город» <obrashcheniya@gorod.example>:
> ОБРАЩЕНИЕ № 42
""",
    "gmail_en_wrapped": f"""{ANSWER}

On Mon, Nov 23, 2026 at 10:15 AM Платформа «Город» <
obrashcheniya@gorod.example> wrote:

> ОБРАЩЕНИЕ № 42
""",
    "gmail_ru": f"""{ANSWER}

пн, 23 нояб. 2026 г. в 10:15, Платформа «Город» <obrashcheniya@gorod.example>:

> ОБРАЩЕНИЕ № 42
""",
    "outlook_ru": f"""{ANSWER}

________________________________
От: Платформа «Город» <obrashcheniya@gorod.example>
Отправлено: 23 ноября 2026 г. 10:15
Кому: uprava@kolomna.example
Тема: Обращение гражданина № 42
В Администрация Городского округа Коломна
""",
    "outlook_en": f"""{ANSWER}

From: Платформа «Город» [mailto:obrashcheniya@gorod.example]
Sent: Monday, November 23, 2026 10:15 AM
To: uprava@kolomna.example
Subject: Обращение гражданина № 42
""",
    "original_message": f"""{ANSWER}

-----Original Message-----
From: obrashcheniya@gorod.example
В Администрация Городского округа Коломна
""",
    "original_message_ru": f"""{ANSWER}
-----Исходное сообщение-----
От: obrashcheniya@gorod.example
""",
    "signature": f"{ANSWER}\n-- \nИванов И. И., начальник отдела\nтел. +7 496 000-00-00\n",
    "interleaved_quote_lines": f"""> Яма около 40 см
{ANSWER}
> Просим устранить
""",
}


@pytest.mark.parametrize("name", sorted(QUOTED_CASES))
def test_quoted_history_is_removed(name: str) -> None:
    assert strip_quoted(QUOTED_CASES[name]) == ANSWER


def test_the_answer_itself_is_kept_whole() -> None:
    text = (
        "Заявитель пишет:\nяма глубокая, опасна для пешеходов.\n\n"
        "От: отдела благоустройства получено подтверждение.\nРаботы выполнены 20.11.2026."
    )
    assert strip_quoted(text) == text


def test_html_reply_with_a_blockquote() -> None:
    html = (
        '<div dir="ltr">Яма заделана.<br>Спасибо за обращение.</div><br>'
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Nov 23, 2026 at 10:15 AM '
        "Платформа &lt;obrashcheniya@gorod.example&gt; wrote:<br></div>"
        "<blockquote><div>ОБРАЩЕНИЕ № 42</div><div>Яма около 40 см</div></blockquote></div>"
        "<style>p {color: red}</style>"
    )
    text = html_to_text(html)
    assert "> ОБРАЩЕНИЕ № 42" in text
    assert "color" not in text
    assert strip_quoted(text) == "Яма заделана.\nСпасибо за обращение."


# ----------------------------------------------------------------------------------------------- replies


def reply(text: str, *, to: str = OURS, html: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Администрация <uprava@kolomna.example>"
    message["To"] = to
    message["Subject"] = "RE: Обращение гражданина № 42"
    message["Message-ID"] = "<reply-1@kolomna.example>"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def test_a_reply_is_read_and_matched_by_its_token() -> None:
    mail = read(reply(QUOTED_CASES["yandex"]).as_bytes())
    assert mail.kind == "reply"
    assert mail.tokens == [TOKEN]
    assert mail.text == ANSWER
    assert mail.sender == "uprava@kolomna.example"


def test_token_from_the_envelope_when_headers_do_not_have_it() -> None:
    mail = read(
        reply(ANSWER, to="uprava@kolomna.example").as_bytes(),
        envelope_to=[OURS.upper().replace("APPEAL+" + TOKEN.upper(), "appeal+" + TOKEN)],
    )
    assert mail.tokens == [TOKEN]
    assert read(reply(ANSWER, to="someone@gorod.example").as_bytes()).tokens == []


def test_html_only_reply() -> None:
    message = EmailMessage()
    message["From"] = "uprava@kolomna.example"
    message["To"] = OURS
    message["Subject"] = "Ответ"
    message.set_content("<p>Работы выполнены.</p><blockquote>старое письмо</blockquote>", subtype="html")
    assert read(message.as_bytes()).text == "Работы выполнены."


def test_attachments_are_kept_but_not_signature_logos_nor_oversized_files() -> None:
    message = reply(ANSWER, html=f'<p>{ANSWER}</p><img src="cid:logo123">')
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None
    html_part.add_related(b"\x89PNG-logo", maintype="image", subtype="png", cid="<logo123>", filename="logo.png")
    message.add_attachment(b"%PDF-1.7 answer", maintype="application", subtype="pdf", filename="Ответ № 15-2026.pdf")
    message.add_attachment(b"\xff\xd8\xff" + b"0" * 5000, maintype="image", subtype="jpeg", filename="photo.jpg")
    mail = read(message.as_bytes(), max_attachment_bytes=4096)
    assert mail.kind == "reply"
    assert [(a.filename, a.content_type, a.data) for a in mail.attachments] == [
        ("Ответ № 15-2026.pdf", "application/pdf", b"%PDF-1.7 answer")
    ]
    assert mail.skipped_attachments == ["photo.jpg"]
    assert mail.text == ANSWER


def test_auto_replies_are_not_answers() -> None:
    message = reply("Я в отпуске до 01.12.2026.")
    message["Auto-Submitted"] = "auto-replied"
    assert read(message.as_bytes()).kind == "auto_reply"
    message = reply("Ваше письмо получено.")
    del message["Subject"]
    message["Subject"] = "Автоответ: Обращение гражданина № 42"
    assert read(message.as_bytes()).kind == "auto_reply"


# ----------------------------------------------------------------------------------------------- bounces

ORIGINAL_HEADERS = f"""From: =?utf-8?q?=D0=93=D0=BE=D1=80=D0=BE=D0=B4?= <obrashcheniya@gorod.example>
To: uprava@kolomna.example
Reply-To: {OURS}
Subject: =?utf-8?q?=D0=9E=D0=B1=D1=80=D0=B0=D1=89=D0=B5=D0=BD=D0=B8=D0=B5?=
Message-ID: <appeal-1@gorod.example>
"""


def dsn(action: str, status: str, *, to: str = OURS, diagnostic: str = "") -> bytes:
    diag = f"Diagnostic-Code: smtp; {diagnostic}\n" if diagnostic else ""
    return f"""Return-Path: <>
From: MAILER-DAEMON@mx.kolomna.example (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{action}-{status}@mx.kolomna.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.kolomna.example.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.kolomna.example
Arrival-Date: Mon, 23 Nov 2026 10:15:00 +0300

Final-Recipient: rfc822; uprava@kolomna.example
Original-Recipient: rfc822;uprava@kolomna.example
Action: {action}
Status: {status}
{diag}
--BOUNDARY
Content-Type: text/rfc822-headers

{ORIGINAL_HEADERS}
--BOUNDARY--
""".replace("\n", "\r\n").encode()


def test_rfc3464_failure() -> None:
    mail = read(dsn("failed", "5.1.1", diagnostic="550 5.1.1 <uprava@kolomna.example>: User unknown"), envelope_from="")
    assert mail.kind == "bounce"
    bounce = mail.bounce
    assert bounce is not None
    assert bounce.permanent
    assert bounce.standard
    assert bounce.status == "5.1.1"
    assert bounce.recipient == "uprava@kolomna.example"
    assert "User unknown" in (bounce.diagnostic or "")
    assert mail.tokens == [TOKEN]


def test_rfc3464_token_from_the_returned_headers_when_sent_elsewhere() -> None:
    mail = read(dsn("failed", "5.2.2", to="obrashcheniya@gorod.example"))
    assert mail.kind == "bounce"
    assert mail.tokens == [TOKEN]


def test_rfc3464_delay_and_success_are_not_failures() -> None:
    assert read(dsn("delayed", "4.4.1")).kind == "delay"
    assert read(dsn("delivered", "2.0.0")).kind == "delivery_report"


EXIM_BOUNCE = f"""From: Mail Delivery System <Mailer-Daemon@mx.kolomna.example>
To: {OURS}
Subject: Mail delivery failed: returning message to sender
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=utf-8

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  uprava@kolomna.example
    host mx.kolomna.example [203.0.113.5]
    SMTP error from remote mail server after RCPT TO:<uprava@kolomna.example>:
    550 5.1.1 User unknown

------ This is a copy of the message, including all the headers. ------
""".encode()

EXCHANGE_RU_BOUNCE = f"""From: postmaster@kolomna.example
To: {OURS}
Subject: =?utf-8?b?0J3QtdC00L7RgdGC0LDQstC70LXQvdC90L7QtSDRgdC+0L7QsdGJ0LXQvdC40LU6INCe0LHRgNCw0YnQtdC90LjQtQ==?=
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Не удалось доставить сообщение указанным получателям.
uprava@kolomna.example
Почтовый ящик получателя переполнен. Remote Server returned '552 5.2.2 mailbox full'
""".encode()


def test_non_standard_bounces() -> None:
    exim = read(EXIM_BOUNCE, envelope_from="<>")
    assert exim.kind == "bounce"
    assert exim.bounce is not None
    assert not exim.bounce.standard
    assert exim.bounce.permanent
    assert exim.bounce.status == "5.1.1"
    assert exim.bounce.recipient == "uprava@kolomna.example"
    assert exim.tokens == [TOKEN]
    exchange = read(EXCHANGE_RU_BOUNCE)
    assert exchange.kind == "bounce"
    assert exchange.bounce is not None
    assert exchange.bounce.status == "5.2.2"
    assert exchange.bounce.permanent


def test_a_reply_that_mentions_delivery_is_still_a_reply() -> None:
    mail = read(
        reply("Сообщаем, что доставка песка на детскую площадку выполнена.").as_bytes(),
        envelope_from="uprava@kolomna.example",
    )
    assert mail.kind == "reply"


# ------------------------------------------------------------------------------------------------ outcome


def test_outcome_from_the_marker_line() -> None:
    planned = read_outcome("Результат: запланировано на 15.05.2027\nРемонт дороги включён в план работ.")
    assert planned.outcome == "planned"
    assert planned.planned_for == date(2027, 5, 15)
    assert planned.text == "Ремонт дороги включён в план работ."
    refused = read_outcome("Результат: отказ — участок не находится в муниципальной собственности\nПодробности ниже.")
    assert refused.outcome == "refused"
    assert refused.refusal_reason == "участок не находится в муниципальной собственности"
    assert read_outcome("Результат: решено\nЯма заделана.").outcome == "solved"


def test_outcome_read_from_the_text_without_a_marker() -> None:
    planned = read_outcome("Ремонт покрытия будет выполнен до 15 мая 2027 года в рамках программы.")
    assert planned.outcome == "planned"
    assert planned.planned_for == date(2027, 5, 15)
    refused = read_outcome("Выполнить работы не представляется возможным: дорога региональная.")
    assert refused.outcome == "refused"
    assert "региональная" in (refused.refusal_reason or "")
    assert read_outcome(ANSWER).outcome == "solved"
