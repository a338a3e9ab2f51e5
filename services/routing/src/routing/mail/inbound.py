"""Parsing an inbound RFC 822 message with the stdlib ``email`` package: a reply, a bounce, or an auto-reply.

* Bounces: a standard delivery status notification (RFC 3464 ``multipart/report; report-type=delivery-status``,
  read per recipient: ``Action``, ``Status``, ``Final-Recipient``, ``Diagnostic-Code``), or one of the common
  non-standard ones (a null envelope sender, ``MAILER-DAEMON``/``postmaster``, subjects such as "Undelivered Mail
  Returned to Sender", "Undeliverable:", "Недоставленное сообщение"), with the SMTP status read from the text.
  A delay notice is told apart from a failure: the mail may still arrive.
* Auto-replies (RFC 3834 ``Auto-Submitted``, ``X-Autoreply``, "Автоответ", "Out of Office"…) are not answers.
* A reply: its text (text/plain, else the HTML turned into text, quotes marked) without the quoted history,
  and its attachments (inline logos of a signature left out).
* The appeal is found by the token of the reply address it was sent to (``reply_address``), never by headers a
  sender can write freely: for a bounce, the token of the returned original's ``Reply-To`` counts too.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.utils import parseaddr
from html.parser import HTMLParser
from typing import Literal

from routing.mail.quotes import strip_quoted
from routing.mail.reply_address import tokens_in

Kind = Literal["reply", "bounce", "delay", "auto_reply", "delivery_report"]


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Bounce:
    permanent: bool
    status: str | None
    """The enhanced status code (RFC 3463), e.g. ``5.1.1``, when the report gives one."""
    recipient: str | None
    diagnostic: str | None
    standard: bool
    """True for an RFC 3464 report, False for a recognised non-standard bounce."""

    def describe(self) -> str:
        parts = [self.status or "", self.diagnostic or ""]
        text = " ".join(part for part in parts if part).strip()
        return (text or ("недоставка" if self.permanent else "задержка доставки"))[:500]


@dataclass(frozen=True)
class InboundMail:
    kind: Kind
    tokens: list[str]
    message_id: str | None
    subject: str
    sender: str
    """The ``From`` address (the envelope sender may be empty for a bounce)."""
    text: str
    """The new text of a reply, quoted history removed."""
    full_text: str
    attachments: list[Attachment] = field(default_factory=list)
    skipped_attachments: list[str] = field(default_factory=list)
    bounce: Bounce | None = None


_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|undelivered mail|returned mail|delivery status notification \((failure|delay)|"
    r"delivery (has )?fail|mail delivery (failed|subsystem)|failure notice|could not be delivered|"
    r"non[- ]?delivery|delivery failure|message not delivered|delayed mail|"
    r"недоставлен|не доставлен|не удалось доставить|не может быть доставлен|ошибка доставки|невозможно доставить)",
    re.IGNORECASE,
)
_DELAY_SUBJECT = re.compile(r"(delay|delayed|warning: message .* delayed|задерж|доставка откладывается)", re.IGNORECASE)
_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.IGNORECASE)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"\b(5[0-5]\d|4[0-5]\d)[ -]")
_AUTO_SUBJECT = re.compile(
    r"^\s*(автоответ|автоматический ответ|auto:|autoreply|auto-reply|automatic reply|out of office|"
    r"нет на месте|в отпуске|vacation)",
    re.IGNORECASE,
)
_RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc")


class _HtmlText(HTMLParser):
    """HTML to text: block elements break lines, ``blockquote`` content is marked with ``> ``."""

    _BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "hr"})
    _SKIP = frozenset({"style", "script", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.quote = 0
        self.skip = 0

    def _newline(self) -> None:
        if self.lines[-1].strip() or self.lines[-1].startswith(">"):
            self.lines.append("")
        self.lines[-1] = "> " * self.quote

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skip += 1
        elif tag == "blockquote":
            self.quote += 1
            self._newline()
        elif tag in self._BLOCKS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._newline()
        elif tag in self._BLOCKS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        text = re.sub(r"\s+", " ", data)
        if not self.lines[-1].strip(" >") and not text.strip():
            return
        if not self.lines[-1] and self.quote:
            self.lines[-1] = "> " * self.quote
        self.lines[-1] += text.lstrip() if not self.lines[-1].strip(" >") else text


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [line.rstrip() for line in parser.lines]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _header(message: Message, name: str) -> str:
    value = message.get(name)
    return str(value).strip() if value is not None else ""


def _text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    try:
        content = body.get_content()
    except (LookupError, ValueError):  # an unknown charset: keep what can be read
        payload = body.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if body.get_content_type() == "text/html":
        return html_to_text(content)
    return content.replace("\r\n", "\n")


def _delivery_status_blocks(message: EmailMessage) -> list[Message] | None:
    """The per-message and per-recipient field blocks of an RFC 3464 report, or None if it is not one."""
    if message.get_content_type() != "multipart/report":
        return None
    if str(message.get_param("report-type", "", header="content-type")).lower() != "delivery-status":
        return None
    for part in message.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            payload = part.get_payload()
            if isinstance(payload, list):
                return [block for block in payload if isinstance(block, Message)]
            if isinstance(payload, str):  # some parsers leave it as text: read the blocks ourselves
                parsed = email.message_from_string(payload.replace("\r\n", "\n").strip() + "\n")
                return [parsed]
    return []


def _returned_headers(message: EmailMessage) -> list[str]:
    """The ``Reply-To``/``From`` of the original message a bounce returns (message/rfc822 or text/rfc822-headers)."""
    found: list[str] = []
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                found += [_header(inner, "Reply-To"), _header(inner, "Return-Path")]
        elif ctype == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                headers = email.message_from_bytes(payload, policy=email.policy.compat32)
                found += [_header(headers, "Reply-To"), _header(headers, "Return-Path")]
    return [value for value in found if value]


def _standard_bounce(blocks: list[Message]) -> tuple[Kind, Bounce]:
    recipients = [block for block in blocks if block.get("Action") or block.get("Final-Recipient")]
    failed = [b for b in recipients if str(b.get("Action", "")).strip().lower() == "failed"]
    delayed = [b for b in recipients if str(b.get("Action", "")).strip().lower() == "delayed"]
    chosen = failed[0] if failed else (delayed[0] if delayed else (recipients[0] if recipients else None))
    if chosen is None:
        return "bounce", Bounce(permanent=True, status=None, recipient=None, diagnostic=None, standard=True)
    status = str(chosen.get("Status", "")).strip() or None
    final = str(chosen.get("Final-Recipient", "") or chosen.get("Original-Recipient", "")).strip()
    recipient = final.split(";", 1)[-1].strip() if final else None
    diagnostic = " ".join(str(chosen.get("Diagnostic-Code", "")).split()) or None
    if diagnostic and ";" in diagnostic:
        diagnostic = diagnostic.split(";", 1)[1].strip()
    bounce = Bounce(permanent=bool(failed), status=status, recipient=recipient, diagnostic=diagnostic, standard=True)
    if failed:
        return "bounce", bounce
    if delayed:
        return "delay", bounce
    return "delivery_report", bounce  # delivered / relayed / expanded: nothing went wrong


def _looks_like_bounce(message: EmailMessage, envelope_from: str | None) -> bool:
    sender = parseaddr(_header(message, "From"))[1]
    null_sender = envelope_from is not None and envelope_from.strip("<> ") == ""
    return_path_null = _header(message, "Return-Path").strip() == "<>"
    daemon = bool(_DAEMON.match(sender))
    bounce_subject = bool(_BOUNCE_SUBJECT.search(_header(message, "Subject")))
    if daemon:
        return True
    if null_sender or return_path_null:
        return bounce_subject
    # A bounce relayed by a mail system that rewrote the sender: the subject and an SMTP status must both say so.
    return bounce_subject and bool(_STATUS.search(_text_of(message)))


def _heuristic_bounce(message: EmailMessage, text: str) -> tuple[Kind, Bounce]:
    subject = _header(message, "Subject")
    status_match = _STATUS.search(text)
    status = ".".join(status_match.groups()) if status_match else None
    delayed = bool(_DELAY_SUBJECT.search(subject)) and not (status and status.startswith("5"))
    permanent = not delayed  # the mail system gave up, whatever the code of the last try
    diagnostic = None
    for line in text.splitlines():
        if _STATUS.search(line) or _SMTP_CODE.search(line):
            diagnostic = " ".join(line.split())[:300]
            break
    recipient = None
    address = re.search(r"<?([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>?", text)
    if address:
        recipient = address.group(1)
    bounce = Bounce(permanent=permanent, status=status, recipient=recipient, diagnostic=diagnostic, standard=False)
    return ("delay" if delayed else "bounce"), bounce


def _is_auto_reply(message: EmailMessage) -> bool:
    auto = _header(message, "Auto-Submitted").lower()
    if auto and auto != "no":
        return True
    if _header(message, "X-Autoreply") or _header(message, "X-Autorespond"):
        return True
    if _header(message, "Precedence").lower() in ("auto_reply", "bulk", "junk"):
        return True
    return bool(_AUTO_SUBJECT.match(_header(message, "Subject")))


def _attachments(message: EmailMessage, max_bytes: int) -> tuple[list[Attachment], list[str]]:
    html = message.get_body(preferencelist=("html",))
    html_text = ""
    if html is not None:
        try:
            html_text = str(html.get_content())
        except (LookupError, ValueError):
            html_text = ""
    kept: list[Attachment] = []
    skipped: list[str] = []
    for part in message.iter_attachments():
        if not isinstance(part, EmailMessage) or part.get_content_maintype() in ("multipart", "message"):
            continue
        filename = part.get_filename() or ""
        content_id = str(part.get("Content-ID", "")).strip("<> ")
        if content_id and f"cid:{content_id}" in html_text and part.get_content_disposition() != "attachment":
            continue  # an inline picture of the HTML body (a logo in the signature)
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        name = filename or f"attachment-{len(kept) + 1}"
        if len(data) > max_bytes:
            skipped.append(name)
            continue
        kept.append(Attachment(filename=name, content_type=part.get_content_type(), data=data))
    return kept, skipped


def parse(
    raw: bytes,
    *,
    local_part: str,
    domain: str,
    envelope_from: str | None = None,
    envelope_to: Sequence[str] = (),
    max_attachment_bytes: int = 10 * 1024 * 1024,
) -> InboundMail:
    """Read one inbound message. ``envelope_*`` come from SMTP (the receiver); the endpoint has headers only."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    recipients = [*envelope_to, *(_header(message, name) for name in _RECIPIENT_HEADERS)]
    tokens = tokens_in(recipients, local_part=local_part, domain=domain)
    full_text = _text_of(message)
    common = {
        "message_id": _header(message, "Message-ID") or None,
        "subject": _header(message, "Subject"),
        "sender": parseaddr(_header(message, "From"))[1],
        "full_text": full_text,
    }
    blocks = _delivery_status_blocks(message)
    if blocks is not None or _looks_like_bounce(message, envelope_from):
        text = full_text
        kind, bounce = _standard_bounce(blocks) if blocks is not None else _heuristic_bounce(message, text)
        for token in tokens_in(_returned_headers(message), local_part=local_part, domain=domain):
            if token not in tokens:
                tokens.append(token)
        return InboundMail(kind=kind, tokens=tokens, text="", bounce=bounce, **common)  # type: ignore[arg-type]
    if _is_auto_reply(message):
        return InboundMail(kind="auto_reply", tokens=tokens, text="", **common)  # type: ignore[arg-type]
    attachments, skipped = _attachments(message, max_attachment_bytes)
    return InboundMail(
        kind="reply",
        tokens=tokens,
        text=strip_quoted(full_text),
        attachments=attachments,
        skipped_attachments=skipped,
        **common,  # type: ignore[arg-type]
    )
