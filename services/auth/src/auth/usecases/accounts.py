"""People's accounts: registration with consent (152-FZ), e-mail confirmation, sign-in with throttling,
password reset, sign-out and the profile. Each use case is one unit of work; e-mail goes out only after
the commit (the use case returns the :class:`~auth.usecases.mail.Mail` to send, and the caller sends them
with :func:`auth.usecases.mail.send_all`, typically after the response has gone, so that the time of an
answer does not tell whether an account exists).

Personal data (e-mails, names, phones) never goes to logs, audit rows or events: ids and field names only.
"""

from __future__ import annotations

import asyncio
import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth.db import users as users_db
from auth.db.tables import consent_documents, consents, email_tokens, users
from auth.domain.accounts import (
    CONFIRM_EMAIL_TTL,
    MAX_LINKS_PER_HOUR,
    RESET_PASSWORD_TTL,
    InvalidInput,
    ProfileFields,
    Registration,
    check_password,
    normalise_email,
)
from auth.domain.secrets import hash_password, needs_rehash, new_token, token_hash, verify_password
from auth.settings import AuthSettings
from auth.usecases import throttle
from auth.usecases.mail import Mail
from auth.usecases.sessions import end_all_sessions, end_session, start_session
from servicekit.app import ServiceContext
from servicekit.events import CloudEvent, new_event

CONFIRM_EMAIL = "confirm_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 -- a purpose, not a password
WEB = "web"

# --- the consent document (152-FZ) ----------------------------------------------------------------------

DEFAULT_CONSENT_VERSION = "2026-11-01"
DEFAULT_CONSENT_TITLE = "Согласие на обработку персональных данных"
DEFAULT_CONSENT_BODY = """\
Я, регистрируясь на платформе «Город», в соответствии с Федеральным законом от 27.07.2006 № 152-ФЗ \
«О персональных данных» свободно, своей волей и в своём интересе даю согласие оператору платформы «Город» \
на обработку моих персональных данных.

1. Какие данные: фамилия, имя, отчество (или имя, которым я назвался); адрес электронной почты; номер \
телефона (если я его указал); код территории проживания по ОКТМО (если я его указал); сведения о входе \
на платформу; связь с учётной записью «Добровольцы России» (DOBRO.RU), если я её установлю.

2. Зачем: создание и ведение моей учётной записи; вход на платформу и в подключённые к ней сервисы; \
рассмотрение моих сообщений о проблемах города, инициатив и голосований, ответы мне по ним; \
уведомления о ходе их рассмотрения; обеспечение безопасности платформы.

3. Что с ними делают: сбор, запись, систематизация, накопление, хранение, уточнение (обновление, \
изменение), извлечение, использование, передача (предоставление, доступ) органам местного самоуправления \
и организациям, отвечающим на мои обращения, — в объёме, нужном для ответа, обезличивание, блокирование, \
удаление, уничтожение; с использованием средств автоматизации и без них.

4. Сколько: согласие действует до удаления учётной записи или до его отзыва. Отозвать согласие и удалить \
учётную запись можно в личном кабинете; после этого персональные данные удаляются или обезличиваются \
в срок не более 30 дней, кроме случаев, когда их хранение требуется по закону.

5. Мои права: я могу получить сведения об обработке моих данных и выгрузить их, потребовать их уточнения, \
блокирования или уничтожения (статья 14 Федерального закона № 152-ФЗ).
"""


@dataclass(frozen=True)
class ConsentDocument:
    version: str
    title: str
    body: str
    published_at: datetime


async def ensure_current_consent_document(session: AsyncSession) -> ConsentDocument:
    """The consent document in force (the latest published); seeds the first one if there is none."""
    query = (
        select(consent_documents)
        .where(consent_documents.c.published_at <= func.now())
        .order_by(consent_documents.c.published_at.desc(), consent_documents.c.version.desc())
        .limit(1)
    )
    row = (await session.execute(query)).first()
    if row is None:
        await session.execute(
            insert(consent_documents)
            .values(version=DEFAULT_CONSENT_VERSION, title=DEFAULT_CONSENT_TITLE, body=DEFAULT_CONSENT_BODY)
            .on_conflict_do_nothing()
        )
        row = (await session.execute(query)).first()
        if row is None:  # the seeded version exists but is published in the future: show it anyway
            row = (
                await session.execute(
                    select(consent_documents).where(consent_documents.c.version == DEFAULT_CONSENT_VERSION)
                )
            ).one()
    return ConsentDocument(row.version, row.title, row.body, row.published_at)


async def current_consent_document(kit: ServiceContext) -> ConsentDocument:
    async with kit.unit_of_work() as uow:
        document = await ensure_current_consent_document(uow.session)
        await uow.commit()
    return document


# --- e-mail links ---------------------------------------------------------------------------------------


def _link(settings: AuthSettings, path: str, token: str) -> str:
    return f"{settings.jwt_issuer.rstrip('/')}{path}?token={token}"


async def _links_in_last_hour(session: AsyncSession, user_id: uuid.UUID, purpose: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(email_tokens)
        .where(
            email_tokens.c.user_id == user_id,
            email_tokens.c.purpose == purpose,
            email_tokens.c.created_at > func.now() - timedelta(hours=1),
        )
    )
    return int(count or 0)


async def _issue_link(
    session: AsyncSession, user_id: uuid.UUID, purpose: str, email: str, ttl: timedelta
) -> str | None:
    """A fresh single-use link token (stored hashed), or None when this account had enough links this hour."""
    if await _links_in_last_hour(session, user_id, purpose) >= MAX_LINKS_PER_HOUR:
        return None
    raw = new_token()
    await session.execute(
        email_tokens.insert().values(
            token_hash=token_hash(raw),
            user_id=user_id,
            purpose=purpose,
            email=email,
            expires_at=datetime.now(UTC) + ttl,
        )
    )
    return raw


async def _take_link(session: AsyncSession, raw: str | None, purpose: str, *, use: bool) -> Any:
    """The token's row if it is valid (right purpose, unused, unexpired); ``use`` marks it used."""
    if not raw or len(raw) > 128:
        return None
    query = select(email_tokens).where(
        email_tokens.c.token_hash == token_hash(raw),
        email_tokens.c.purpose == purpose,
        email_tokens.c.used_at.is_(None),
        email_tokens.c.expires_at > func.now(),
    )
    if use:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is not None and use:
        await session.execute(
            update(email_tokens).where(email_tokens.c.token_hash == row.token_hash).values(used_at=func.now())
        )
    return row


def _confirm_mail(settings: AuthSettings, to: str, token: str) -> Mail:
    return Mail(
        to,
        "Подтвердите адрес электронной почты — Город",
        "Здравствуйте!\n\n"
        "Чтобы подтвердить адрес электронной почты на платформе «Город», откройте ссылку:\n\n"
        f"{_link(settings, '/confirm-email', token)}\n\n"
        f"Ссылка действует {int(CONFIRM_EMAIL_TTL.total_seconds() // 3600)} часа и открывается один раз.\n"
        "Если вы не регистрировались на платформе «Город», просто не обращайте внимания на это письмо.\n\n"
        "— Платформа «Город»\n",
    )


def _already_registered_mail(settings: AuthSettings, to: str) -> Mail:
    base = settings.jwt_issuer.rstrip("/")
    return Mail(
        to,
        "Попытка регистрации с вашим адресом — Город",
        "Здравствуйте!\n\n"
        "Кто-то (возможно, вы) попытался зарегистрироваться на платформе «Город» с этим адресом "
        "электронной почты, но учётная запись с ним уже есть.\n\n"
        f"Войти: {base}/signin\n"
        f"Забыли пароль? Восстановите его: {base}/password/forgot\n\n"
        "Если это были не вы, ничего делать не нужно: ваша учётная запись не изменилась.\n\n"
        "— Платформа «Город»\n",
    )


def _reset_mail(settings: AuthSettings, to: str, token: str) -> Mail:
    return Mail(
        to,
        "Восстановление пароля — Город",
        "Здравствуйте!\n\n"
        "Мы получили просьбу сменить пароль вашей учётной записи на платформе «Город». "
        "Чтобы задать новый пароль, откройте ссылку:\n\n"
        f"{_link(settings, '/password/reset', token)}\n\n"
        "Ссылка действует 1 час и открывается один раз. После смены пароля вход будет завершён на всех "
        "устройствах.\n"
        "Если вы не просили сменить пароль, просто не обращайте внимания на это письмо.\n\n"
        "— Платформа «Город»\n",
    )


def _email_change_notice(to: str) -> Mail:
    return Mail(
        to,
        "Смена адреса электронной почты — Город",
        "Здравствуйте!\n\n"
        "В вашей учётной записи на платформе «Город» запрошена смена адреса электронной почты. Адрес "
        "изменится, только когда владелец нового адреса откроет ссылку из письма, которое мы ему отправили.\n"
        "Если это были не вы, смените пароль: откройте «Забыли пароль?» на странице входа.\n\n"
        "— Платформа «Город»\n",
    )


def _email_taken_mail(settings: AuthSettings, to: str) -> Mail:
    return Mail(
        to,
        "Адрес уже используется — Город",
        "Здравствуйте!\n\n"
        "Кто-то попытался указать этот адрес электронной почты в учётной записи на платформе «Город», но "
        "он уже принадлежит другой учётной записи. Адрес не изменён.\n\n"
        f"Войти с этим адресом: {settings.jwt_issuer.rstrip('/')}/signin\n\n"
        "— Платформа «Город»\n",
    )


def _updated_event(user_id: uuid.UUID, changed: list[str]) -> CloudEvent:
    """``auth.user.updated.v1``: which fields changed, never their values."""
    return new_event(
        "auth.user.updated.v1",
        {"user_id": str(user_id), "changed": sorted(changed)},
        source="auth",
        subject=str(user_id),
    )


# --- registration ---------------------------------------------------------------------------------------


async def register(
    kit: ServiceContext, settings: AuthSettings, form: Registration, *, channel: str = WEB
) -> list[Mail]:
    """Create an unconfirmed account with the consent given, and the confirmation mail to send.

    An e-mail that already has an account gets the same answer and no account: only a notice to its owner.
    """
    password_hash = await asyncio.to_thread(hash_password, form.password)
    try:
        async with kit.unit_of_work() as uow:
            session = uow.session
            document = await ensure_current_consent_document(session)
            if document.version != form.consent_version:
                raise InvalidInput("Текст согласия обновился. Прочитайте его ещё раз и подтвердите согласие.")
            if await users_db.user_by_email(session, form.email) is not None:
                return [_already_registered_mail(settings, form.email)]
            user_id = await users_db.insert_user(
                session,
                email=form.email,
                password_hash=password_hash,
                full_name=form.full_name,
                phone=form.phone,
                home_territory=form.home_territory,
            )
            await session.execute(
                consents.insert().values(user_id=user_id, document_version=document.version, channel=channel)
            )
            registered_at = await session.scalar(select(users.c.created_at).where(users.c.id == user_id))
            token = await _issue_link(session, user_id, CONFIRM_EMAIL, form.email, CONFIRM_EMAIL_TTL)
            uow.record(
                new_event(
                    "auth.user.registered.v1",
                    {
                        "user_id": str(user_id),
                        "registered_at": (registered_at or datetime.now(UTC)).isoformat(),
                        "channel": channel,
                    },
                    source="auth",
                    subject=str(user_id),
                )
            )
            await uow.commit()
    except IntegrityError:
        # The same e-mail registered a moment ago by a concurrent request (the unique index): same answer.
        return [_already_registered_mail(settings, form.email)]
    return [_confirm_mail(settings, form.email, token)] if token else []


class ConfirmOutcome(enum.Enum):
    CONFIRMED = "confirmed"
    EMAIL_CHANGED = "email_changed"
    INVALID = "invalid"
    EMAIL_TAKEN = "email_taken"


async def confirm_email(kit: ServiceContext, raw: str | None) -> ConfirmOutcome:
    """Open a confirmation link: the account's e-mail is confirmed (or changed to the new one), once."""
    async with kit.unit_of_work() as uow:
        session = uow.session
        link = await _take_link(session, raw, CONFIRM_EMAIL, use=True)
        user = await users_db.user_by_id(session, link.user_id) if link else None
        if link is None or user is None:
            return ConfirmOutcome.INVALID
        if user.email == link.email:
            if user.email_verified_at is None:
                await session.execute(
                    update(users)
                    .where(users.c.id == user.id)
                    .values(email_verified_at=func.now(), updated_at=func.now())
                )
                uow.record(_updated_event(user.id, ["email_verified"]))
            await uow.commit()
            return ConfirmOutcome.CONFIRMED
        if await users_db.user_by_email(session, link.email) is not None:
            await uow.commit()  # the link is spent either way
            return ConfirmOutcome.EMAIL_TAKEN
        await session.execute(
            update(users)
            .where(users.c.id == user.id)
            .values(email=link.email, email_verified_at=func.now(), updated_at=func.now())
        )
        # Links sent to the old address (a password reset) must not work any more.
        await session.execute(
            update(email_tokens)
            .where(email_tokens.c.user_id == user.id, email_tokens.c.used_at.is_(None))
            .values(used_at=func.now())
        )
        uow.record(
            _updated_event(user.id, ["email", "email_verified"] if user.email_verified_at is None else ["email"])
        )
        await users_db.audit(session, "email.changed", actor_id=user.id, subject_id=user.id)
        try:
            await uow.commit()
        except IntegrityError:
            return ConfirmOutcome.EMAIL_TAKEN
        return ConfirmOutcome.EMAIL_CHANGED


async def resend_confirmation(kit: ServiceContext, settings: AuthSettings, email: str) -> list[Mail]:
    """A new confirmation link for an unconfirmed account; nothing (and the same answer) otherwise."""
    try:
        address = normalise_email(email)
    except InvalidInput:
        return []
    async with kit.unit_of_work() as uow:
        user = await users_db.user_by_email(uow.session, address)
        if user is None or user.email_verified_at is not None:
            return []
        token = await _issue_link(uow.session, user.id, CONFIRM_EMAIL, address, CONFIRM_EMAIL_TTL)
        await uow.commit()
    return [_confirm_mail(settings, address, token)] if token else []


# --- password reset -------------------------------------------------------------------------------------


async def request_password_reset(kit: ServiceContext, settings: AuthSettings, email: str) -> list[Mail]:
    """A reset link for the account of ``email`` if there is one; the caller answers the same either way."""
    try:
        address = normalise_email(email)
    except InvalidInput:
        return []
    async with kit.unit_of_work() as uow:
        user = await users_db.user_by_email(uow.session, address)
        if user is None:
            return []
        token = await _issue_link(uow.session, user.id, RESET_PASSWORD, address, RESET_PASSWORD_TTL)
        await uow.commit()
    return [_reset_mail(settings, address, token)] if token else []


async def reset_link_valid(kit: ServiceContext, raw: str | None) -> bool:
    async with kit.session_factory() as session:
        return await _take_link(session, raw, RESET_PASSWORD, use=False) is not None


class ResetOutcome(enum.Enum):
    DONE = "done"
    INVALID_LINK = "invalid_link"


async def reset_password(kit: ServiceContext, raw: str | None, password: str) -> ResetOutcome:
    """Set a new password through a reset link (once, within the hour) and end every session of the
    account. Raises :class:`InvalidInput` for a password the policy refuses (the link stays valid)."""
    async with kit.session_factory() as session:
        link = await _take_link(session, raw, RESET_PASSWORD, use=False)
    if link is None:
        return ResetOutcome.INVALID_LINK
    check_password(password, email=link.email)
    password_hash = await asyncio.to_thread(hash_password, password)
    async with kit.unit_of_work() as uow:
        session = uow.session
        link = await _take_link(session, raw, RESET_PASSWORD, use=True)
        user = await users_db.user_by_id(session, link.user_id) if link else None
        if link is None or user is None:
            return ResetOutcome.INVALID_LINK
        values: dict[str, Any] = {"password_hash": password_hash, "updated_at": func.now()}
        if user.email == link.email and user.email_verified_at is None:
            values["email_verified_at"] = func.now()  # the link reached that mailbox: it is the owner's
        await session.execute(update(users).where(users.c.id == user.id).values(**values))
        # Every other reset link of the account is spent too, and every browser signed in is signed out.
        await session.execute(
            update(email_tokens)
            .where(
                email_tokens.c.user_id == user.id,
                email_tokens.c.purpose == RESET_PASSWORD,
                email_tokens.c.used_at.is_(None),
            )
            .values(used_at=func.now())
        )
        await end_all_sessions(session, user.id)
        await throttle.clear_account(session, user.id)
        await users_db.audit(session, "password.reset", actor_id=user.id, subject_id=user.id)
        if "email_verified_at" in values:
            uow.record(_updated_event(user.id, ["email_verified"]))
        await uow.commit()
    return ResetOutcome.DONE


# --- sign-in and sign-out -------------------------------------------------------------------------------


class SignInStatus(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    ACCOUNT_LOCKED = "account_locked"
    IP_LOCKED = "ip_locked"
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True)
class SignInResult:
    status: SignInStatus
    cookie: str | None = None
    user_id: uuid.UUID | None = None


def _locked(locks: throttle.Locks) -> SignInResult | None:
    if locks.ip:
        return SignInResult(SignInStatus.IP_LOCKED)
    if locks.account:
        return SignInResult(SignInStatus.ACCOUNT_LOCKED)
    return None


async def sign_in(
    kit: ServiceContext,
    settings: AuthSettings,
    email: str,
    password: str,
    ip: str,
    *,
    previous_cookie: str | None = None,
) -> SignInResult:
    """Check the password and start a browser session, within the throttling limits; the browser's
    previous session, if any, ends (a new session id at every sign-in: no session fixation).

    A locked account or address is refused before the password is even looked at, so the answer is the
    same whether the password was right. The failures are re-checked under a row lock after the (slow,
    off-loop) password check, so parallel guesses cannot slip past the limit.
    """
    try:
        address = normalise_email(email)
    except InvalidInput:
        address = email.strip().lower()[:320]
    now = datetime.now(UTC)
    async with kit.session_factory() as session:
        user = await users_db.user_by_email(session, address) if "@" in address else None
        keys = throttle.ThrottleKeys.of(user_id=user.id if user else None, email=address, ip=ip)
        refused = _locked(await throttle.current_locks(session, keys, now))
    if refused:
        return refused
    stored_hash = user.password_hash if user else None
    good = await asyncio.to_thread(verify_password, password[:1024], stored_hash)
    now = datetime.now(UTC)
    async with kit.unit_of_work() as uow:
        session = uow.session
        refused = _locked(await throttle.current_locks(session, keys, now, for_update=True))
        if refused:
            await uow.commit()
            return refused
        if not good or user is None:
            locks = await throttle.record_failure(session, keys, now)
            await uow.commit()
            return _locked(locks) or SignInResult(SignInStatus.WRONG)
        await throttle.record_success(session, keys)
        if user.email_verified_at is None:
            await uow.commit()
            return SignInResult(SignInStatus.UNCONFIRMED, user_id=user.id)
        if stored_hash and needs_rehash(stored_hash):
            new_hash = await asyncio.to_thread(hash_password, password)
            await session.execute(update(users).where(users.c.id == user.id).values(password_hash=new_hash))
        await end_session(session, previous_cookie)
        cookie = await start_session(session, user.id, ttl=settings.session_ttl)
        await uow.commit()
    return SignInResult(SignInStatus.OK, cookie=cookie, user_id=user.id)


async def sign_out(kit: ServiceContext, raw_cookie: str | None) -> None:
    async with kit.unit_of_work() as uow:
        await end_session(uow.session, raw_cookie)
        await uow.commit()


# --- profile --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    user_id: uuid.UUID
    email: str | None
    email_verified: bool
    full_name: str
    phone: str | None
    home_territory: str | None
    consent_version: str | None = None
    consent_at: datetime | None = None


async def profile(kit: ServiceContext, user_id: uuid.UUID) -> Profile | None:
    async with kit.session_factory() as session:
        user = await users_db.user_by_id(session, user_id)
        if user is None:
            return None
        consent = (
            await session.execute(
                select(consents.c.document_version, consents.c.accepted_at)
                .where(consents.c.user_id == user_id, consents.c.withdrawn_at.is_(None))
                .order_by(consents.c.accepted_at.desc())
                .limit(1)
            )
        ).first()
    return Profile(
        user_id=user.id,
        email=user.email,
        email_verified=user.email_verified_at is not None,
        full_name=user.full_name,
        phone=user.phone,
        home_territory=user.home_territory,
        consent_version=consent.document_version if consent else None,
        consent_at=consent.accepted_at if consent else None,
    )


@dataclass(frozen=True)
class ProfileUpdate:
    found: bool
    changed: list[str] = field(default_factory=list)
    email_change_requested: bool = False
    mails: list[Mail] = field(default_factory=list)


async def update_profile(
    kit: ServiceContext, settings: AuthSettings, user_id: uuid.UUID, fields: ProfileFields
) -> ProfileUpdate:
    """Save the name, phone and home territory at once; a new e-mail is only requested: it replaces the
    old one when its owner opens the link sent to it (and the old address is told)."""
    async with kit.unit_of_work() as uow:
        session = uow.session
        user = (
            await session.execute(
                select(users).where(users.c.id == user_id, users.c.erased_at.is_(None)).with_for_update()
            )
        ).first()
        if user is None:
            return ProfileUpdate(found=False)
        values = {"full_name": fields.full_name, "phone": fields.phone, "home_territory": fields.home_territory}
        changed = [name for name, value in values.items() if getattr(user, name) != value]
        if changed:
            await session.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(**{name: values[name] for name in changed}, updated_at=func.now())
            )
            uow.record(_updated_event(user_id, changed))
        mails: list[Mail] = []
        requested = fields.email is not None and fields.email != user.email
        if fields.email is not None and requested:
            if await users_db.user_by_email(session, fields.email) is not None:
                mails.append(_email_taken_mail(settings, fields.email))
            else:
                token = await _issue_link(session, user_id, CONFIRM_EMAIL, fields.email, CONFIRM_EMAIL_TTL)
                if token:
                    mails.append(_confirm_mail(settings, fields.email, token))
                    if user.email:
                        mails.append(_email_change_notice(user.email))
        await uow.commit()
    return ProfileUpdate(found=True, changed=changed, email_change_requested=requested, mails=mails)
