"""Use cases of federated sign-in (DOBRO.RU and any other configured provider).

The flow, from the browser's point of view::

    GET /signin/{p}?next=/x        → 302 to the provider (state, nonce, PKCE S256); flow cookie set
    GET /signin/{p}/callback?code  → code exchanged, answer verified, claims mapped; then one of
        · a linked account with nothing missing: browser session started, 303 to ``next``;
        · a new subject: account created (role volunteer), linked, ``auth.user.registered.v1`` recorded,
          303 to /signin/{p}/complete (consent, and the e-mail if the provider gave none);
        · a new subject whose e-mail is an existing account's: nothing linked, 303 to /signin/{p}/link,
          where the person signs in to that account with its password; only then is it linked.

Between steps the browser carries a *ticket*: a short-lived JWS signed with the service's own signing key
(typ ``gorod-federation+jwt``, an audience per purpose), in an HttpOnly SameSite=Lax cookie limited to
``/signin``. It holds only what the next step needs (the state's hash, nonce and PKCE verifier; or the
pending account's id; or the verified external identity awaiting its link). Its ``typ`` and audience keep
it from ever passing as an access token, and a ticket of one purpose is useless for another. No table is
needed for a sign-in in progress, and nothing is written before the provider's answer is verified.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import jwt
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth.db import federation as federation_db
from auth.db import users as users_db
from auth.domain.accounts import InvalidInput, normalise_email
from auth.domain.roles import VOLUNTEER
from auth.domain.secrets import verify_password
from auth.federation.claims import ExternalIdentity
from auth.federation.client import ProviderClient, provider_error_code
from auth.federation.config import Provider, ProviderSettings, is_valid_slug, redirect_uri
from auth.federation.errors import (
    DENIED,
    NOT_CONFIGURED,
    PROVIDER_REFUSED,
    STALE_FLOW,
    UNKNOWN_PROVIDER,
    FederationError,
    FlowError,
    ProviderError,
)
from auth.federation.flow import new_flow, safe_next, same_state
from auth.usecases import throttle
from auth.usecases.accounts import ensure_current_consent_document
from auth.usecases.keys import ALGORITHM, KeyRing
from auth.usecases.sessions import start_session
from servicekit.app import ServiceContext
from servicekit.events import new_event

log = logging.getLogger(__name__)

TICKET_TYP = "gorod-federation+jwt"
FLOW_TTL = 600
PENDING_TTL = 900
MAX_TICKET_LENGTH = 4096

_FLOW = "flow"
_COMPLETE = "complete"
_LINK = "link"


# --- outcomes and errors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redirect:
    """Send the browser to the provider, keeping ``ticket`` in the flow cookie."""

    url: str
    ticket: str


@dataclass(frozen=True)
class SignedIn:
    """Start the browser session (``session_cookie``) and go to ``next``."""

    user_id: uuid.UUID
    session_cookie: str
    next: str
    unconfirmed_email: str | None = None
    """An address the person gave us (or the provider did not vouch for): send it a confirmation link."""


@dataclass(frozen=True)
class MustComplete:
    """The account exists but still needs the consent (and maybe an e-mail): keep ``ticket``, go on."""

    ticket: str


@dataclass(frozen=True)
class MustProveOwnership:
    """An account has the provider's e-mail: it is linked only after its password is given."""

    ticket: str


Outcome = SignedIn | MustComplete | MustProveOwnership


class FormRefused(Exception):
    """A completion or link form was refused; show it again with ``message`` (Russian)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotLinked(Exception):
    pass


class LastSignInMethod(Exception):
    pass


@dataclass(frozen=True)
class CompletionForm:
    needs_email: bool
    needs_consent: bool
    document_version: str
    document_title: str
    document_body: str
    next: str


@dataclass(frozen=True)
class LinkForm:
    email: str | None
    next: str


# --- providers ---------------------------------------------------------------------------------------


def provider_from_row(row: Any) -> Provider:
    """Raises ``pydantic.ValidationError`` if the stored settings are not valid."""
    return Provider(
        slug=row.slug,
        display_name=row.display_name,
        settings=ProviderSettings.model_validate(row.settings),
        enabled=row.enabled,
    )


async def configure_provider(
    session: AsyncSession, slug: str, display_name: str, settings: dict[str, Any], *, enabled: bool = True
) -> ProviderSettings:
    """Create or replace provider ``slug`` (inside the caller's transaction). The settings are validated
    (``pydantic.ValidationError`` otherwise) and stored in their complete form; the client secret is not
    one of them (``AUTH_IDP_<SLUG>_CLIENT_SECRET``)."""
    if not is_valid_slug(slug):
        raise ValueError("a provider slug is 1-32 of a-z, 0-9 and '-', starting with a letter")
    display_name = display_name.strip()
    if not display_name or len(display_name) > 100:
        raise ValueError("a provider needs a display name of 1-100 characters")
    validated = ProviderSettings.model_validate(settings)
    await federation_db.upsert_provider(session, slug, display_name, validated.model_dump(mode="json"), enabled=enabled)
    return validated


async def set_provider_enabled(session: AsyncSession, slug: str, enabled: bool) -> bool:
    return await federation_db.set_provider_enabled(session, slug, enabled)


async def enabled_providers(kit: ServiceContext) -> list[Provider]:
    """The providers to offer on the sign-in page ("Войти через DOBRO.RU"), by display name."""
    async with kit.session_factory() as session:
        rows = await federation_db.enabled_provider_rows(session)
    providers = []
    for row in rows:
        try:
            providers.append(provider_from_row(row))
        except ValidationError:
            log.error("identity provider %s has invalid settings; not offered", row.slug)
    return providers


async def load_provider(kit: ServiceContext, slug: str) -> Provider:
    """The enabled provider ``slug``; a :class:`FederationError` (404) if there is none."""
    if not is_valid_slug(slug):
        raise FederationError("unknown provider", UNKNOWN_PROVIDER, status=404)
    async with kit.session_factory() as session:
        row = await federation_db.provider_row(session, slug)
    if row is None or not row.enabled:
        raise FederationError("unknown provider", UNKNOWN_PROVIDER, status=404)
    try:
        return provider_from_row(row)
    except ValidationError:
        log.error("identity provider %s has invalid settings", slug)
        raise ProviderError("provider settings invalid", status=503) from None


# --- tickets -----------------------------------------------------------------------------------------


async def seal(keys: KeyRing, issuer: str, purpose: str, data: dict[str, Any], *, ttl: int) -> str:
    key = await keys.signing_key()
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": _ticket_audience(issuer, purpose),
        "iat": now,
        "exp": now + ttl,
        "data": data,
    }
    return key.sign(claims, typ=TICKET_TYP)


async def unseal(keys: KeyRing, issuer: str, purpose: str, ticket: str | None) -> dict[str, Any] | None:
    """The data of a valid, unexpired ticket of this purpose signed by one of our keys; else None."""
    if not ticket or len(ticket) > MAX_TICKET_LENGTH:
        return None
    try:
        header = jwt.get_unverified_header(ticket)
    except jwt.PyJWTError:
        return None
    kid = header.get("kid")
    if header.get("typ") != TICKET_TYP or header.get("alg") != ALGORITHM or not isinstance(kid, str):
        return None
    public_key = await _public_key(keys, kid)
    if public_key is None:
        return None
    try:
        claims = jwt.decode(
            ticket,
            key=public_key,
            algorithms=[ALGORITHM],
            audience=_ticket_audience(issuer, purpose),
            issuer=issuer,
            options={"require": ["iss", "aud", "exp", "iat"]},
        )
    except jwt.PyJWTError:
        return None
    data = claims.get("data")
    return data if isinstance(data, dict) else None


def _ticket_audience(issuer: str, purpose: str) -> str:
    return f"{issuer.rstrip('/')}/signin#federation-{purpose}"


async def _public_key(keys: KeyRing, kid: str) -> Any:
    active = await keys.signing_key()
    if active.kid == kid:
        return active.private_key.public_key()
    for jwk in (await keys.jwks())["keys"]:
        if jwk.get("kid") == kid:
            try:
                return jwt.PyJWK(jwk, algorithm=ALGORITHM).key
            except jwt.PyJWTError:
                return None
    return None


# --- starting a sign-in --------------------------------------------------------------------------------


async def start_sign_in(provider: Provider, keys: KeyRing, *, issuer: str, next_path: str | None) -> Redirect:
    """The provider's authorization URL, and the flow ticket that binds its callback to this browser."""
    target = safe_next(next_path)
    if target is None:
        raise FlowError(
            "next is not a local path", "Адрес возврата после входа должен вести на наш сайт. Начните вход заново."
        )
    if provider.secret_missing:
        log.error("identity provider %s: %s is not set", provider.slug, provider.secret_variable)
        raise ProviderError(f"client secret missing: set {provider.secret_variable}", NOT_CONFIGURED, status=503)
    flow = new_flow()
    async with ProviderClient(provider) as client:
        endpoints = await client.endpoints()
        url = client.authorization_url(endpoints, redirect_uri=redirect_uri(issuer, provider.slug), flow=flow)
    ticket = await seal(
        keys,
        issuer,
        _FLOW,
        {
            "p": provider.slug,
            "s": flow.state_hash,
            "n": flow.nonce,
            "v": flow.code_verifier if provider.settings.pkce else None,
            "next": target,
        },
        ttl=FLOW_TTL,
    )
    return Redirect(url=url, ticket=ticket)


# --- the callback ------------------------------------------------------------------------------------


async def finish_sign_in(
    kit: ServiceContext,
    keys: KeyRing,
    provider: Provider,
    *,
    issuer: str,
    flow_ticket: str | None,
    params: Mapping[str, str],
    session_ttl: int,
) -> Outcome:
    """Check the callback against the flow ticket, get and verify the identity, and sign in, create or
    ask. Raises :class:`FederationError` (nothing is written then)."""
    flow = await unseal(keys, issuer, _FLOW, flow_ticket)
    error = params.get("error")
    if error is not None:
        error_code = provider_error_code(error)
        log.info("identity provider %s answered the authorization request with error %s", provider.slug, error_code)
        raise FederationError(
            f"provider error {error_code}", DENIED if error_code == "access_denied" else PROVIDER_REFUSED
        )
    if flow is None or flow.get("p") != provider.slug:
        raise FlowError("no valid flow ticket for this provider", STALE_FLOW)
    if not same_state(params.get("state"), str(flow.get("s", ""))):
        raise FlowError("state differs from the flow's", STALE_FLOW)
    code = params.get("code")
    if not code:
        raise ProviderError("callback without code")
    async with ProviderClient(provider) as client:
        identity = await client.fetch_identity(
            code=code,
            redirect_uri=redirect_uri(issuer, provider.slug),
            nonce=str(flow.get("n", "")),
            code_verifier=flow.get("v") if isinstance(flow.get("v"), str) else None,
            iss=params.get("iss"),
        )
    next_path = safe_next(flow.get("next")) or "/"
    return await sign_in_with_identity(
        kit, keys, provider, identity, issuer=issuer, next_path=next_path, session_ttl=session_ttl
    )


async def sign_in_with_identity(
    kit: ServiceContext,
    keys: KeyRing,
    provider: Provider,
    identity: ExternalIdentity,
    *,
    issuer: str,
    next_path: str,
    session_ttl: int,
) -> Outcome:
    """A verified external identity: reuse its link, or create a linked account, or ask for the password
    of the account that has its e-mail (never link that one silently)."""
    async with kit.unit_of_work() as uow:
        session = uow.session
        await federation_db.lock_external_subject(session, provider.slug, identity.subject)
        link = await federation_db.identity_by_subject(session, provider.slug, identity.subject)
        if link is not None:
            user = await users_db.user_by_id(session, link.user_id)
            if user is not None:
                await federation_db.update_identity_claims(
                    session, provider.slug, identity.subject, identity.stored_claims()
                )
                outcome = await _sign_in_or_ask(
                    session, keys, provider, user.id, user.email, issuer=issuer, next_path=next_path, ttl=session_ttl
                )
                await uow.commit()
                return outcome
            await federation_db.delete_identity(session, provider.slug, identity.subject)  # account erased

        if identity.email is not None and await users_db.user_by_email(session, identity.email) is not None:
            await uow.commit()
            ticket = await seal(
                keys,
                issuer,
                _LINK,
                {"p": provider.slug, "sub": identity.subject, "claims": identity.stored_claims(), "next": next_path},
                ttl=PENDING_TTL,
            )
            return MustProveOwnership(ticket)

        if identity.email is not None and await federation_db.email_taken(session, identity.email, other_than=None):
            # Held by an erased account not yet anonymised: not this person's to reuse; ask for another.
            identity = replace(identity, email=None, email_verified=False)
        user_id = await users_db.insert_user(
            session,
            email=identity.email,
            password_hash=None,
            full_name=identity.name or "",
            email_verified=identity.email_verified,
        )
        await _link(session, provider, identity, user_id)
        uow.record(
            new_event(
                "auth.user.registered.v1",
                {
                    "user_id": str(user_id),
                    "registered_at": datetime.now(UTC).isoformat(),
                    "channel": provider.settings.channel,
                },
                source="auth",
                subject=str(user_id),
            )
        )
        try:
            await uow.commit()
        except IntegrityError:
            # The e-mail was taken between our check and the insert: nothing is saved; trying again will
            # find that account and ask for its password.
            raise FederationError(
                "e-mail taken concurrently",
                "Вход не завершён из-за одновременного изменения данных. Попробуйте ещё раз.",
                status=409,
            ) from None
    ticket = await seal(
        keys, issuer, _COMPLETE, {"p": provider.slug, "u": str(user_id), "next": next_path}, ttl=PENDING_TTL
    )
    return MustComplete(ticket)


async def _link(session: AsyncSession, provider: Provider, identity: ExternalIdentity, user_id: uuid.UUID) -> None:
    await federation_db.insert_identity(
        session, provider=provider.slug, subject=identity.subject, user_id=user_id, claims=identity.stored_claims()
    )
    if provider.settings.grant_volunteer and await users_db.grant_role(session, user_id, VOLUNTEER, by=None):
        await users_db.audit(
            session,
            "role.granted",
            actor_id=None,
            subject_id=user_id,
            details={"role": VOLUNTEER, "via": provider.slug},
        )
    await users_db.audit(
        session, "identity.linked", actor_id=user_id, subject_id=user_id, details={"provider": provider.slug}
    )


async def _missing(session: AsyncSession, user_id: uuid.UUID, email: str | None) -> tuple[bool, bool, Any]:
    """(needs consent, needs e-mail, the consent document in force)."""
    document = await ensure_current_consent_document(session)
    needs_consent = not await federation_db.has_consent(session, user_id, document.version)
    return needs_consent, email is None, document


async def _sign_in_or_ask(
    session: AsyncSession,
    keys: KeyRing,
    provider: Provider,
    user_id: uuid.UUID,
    email: str | None,
    *,
    issuer: str,
    next_path: str,
    ttl: int,
) -> SignedIn | MustComplete:
    needs_consent, needs_email, _ = await _missing(session, user_id, email)
    if needs_consent or needs_email:
        ticket = await seal(
            keys, issuer, _COMPLETE, {"p": provider.slug, "u": str(user_id), "next": next_path}, ttl=PENDING_TTL
        )
        return MustComplete(ticket)
    raw = await start_session(session, user_id, ttl=ttl)
    return SignedIn(user_id=user_id, session_cookie=raw, next=next_path)


# --- completing a new account ------------------------------------------------------------------------


async def _pending_user(keys: KeyRing, issuer: str, provider: Provider, ticket: str | None) -> tuple[uuid.UUID, str]:
    data = await unseal(keys, issuer, _COMPLETE, ticket)
    if data is None or data.get("p") != provider.slug:
        raise FlowError("no valid completion ticket", STALE_FLOW)
    try:
        user_id = uuid.UUID(str(data.get("u")))
    except ValueError:
        raise FlowError("malformed completion ticket", STALE_FLOW) from None
    return user_id, safe_next(data.get("next")) or "/"


async def completion_form(
    kit: ServiceContext, keys: KeyRing, provider: Provider, *, issuer: str, ticket: str | None
) -> CompletionForm:
    user_id, next_path = await _pending_user(keys, issuer, provider, ticket)
    async with kit.unit_of_work() as uow:
        user = await users_db.user_by_id(uow.session, user_id)
        if user is None:
            raise FlowError("pending account is gone", STALE_FLOW)
        needs_consent, needs_email, document = await _missing(uow.session, user_id, user.email)
        await uow.commit()  # the first consent document, if it was only just published
    if not (needs_consent or needs_email):
        raise FlowError("nothing left to complete", "Этот шаг входа уже пройден. Войдите ещё раз.")
    return CompletionForm(
        needs_email=needs_email,
        needs_consent=needs_consent,
        document_version=document.version,
        document_title=document.title,
        document_body=document.body,
        next=next_path,
    )


async def complete_sign_in(
    kit: ServiceContext,
    keys: KeyRing,
    provider: Provider,
    *,
    issuer: str,
    ticket: str | None,
    consent: bool,
    document_version: str | None,
    email: str | None,
    session_ttl: int,
) -> SignedIn:
    """Record what was missing (the consent, with the provider's channel; the e-mail, unconfirmed) and
    start the browser session. Raises :class:`FormRefused` for the form to be shown again."""
    user_id, next_path = await _pending_user(keys, issuer, provider, ticket)
    async with kit.unit_of_work() as uow:
        session = uow.session
        user = await federation_db.lock_user(session, user_id)
        if user is None:
            raise FlowError("pending account is gone", STALE_FLOW)
        needs_consent, needs_email, document = await _missing(session, user_id, user.email)
        if not (needs_consent or needs_email):
            raise FlowError("nothing left to complete", "Этот шаг входа уже пройден. Войдите ещё раз.")
        if needs_consent:
            if document_version is not None and document_version != document.version:
                raise FormRefused("Текст согласия обновился, пока вы его читали. Прочитайте его ещё раз.")
            if not consent:
                raise FormRefused("Без согласия на обработку персональных данных мы не можем создать учётную запись.")
        address = None
        if needs_email:
            try:
                address = normalise_email(email or "")
            except InvalidInput as invalid:
                raise FormRefused(str(invalid)) from None
            if await federation_db.email_taken(session, address, other_than=user_id):
                raise FormRefused(
                    "Этот адрес уже указан в другой учётной записи. Укажите другой адрес или войдите в ту "
                    "учётную запись с паролем."
                )
            await federation_db.set_unverified_email(session, user_id, address)
        if needs_consent:
            await federation_db.insert_consent(session, user_id, document.version, channel=provider.settings.channel)
        unconfirmed = address or (user.email if user.email_verified_at is None else None)
        raw = await start_session(session, user_id, ttl=session_ttl)
        try:
            await uow.commit()
        except IntegrityError:
            raise FormRefused("Этот адрес только что занят другой учётной записью. Укажите другой.") from None
    return SignedIn(user_id=user_id, session_cookie=raw, next=next_path, unconfirmed_email=unconfirmed)


# --- linking to an existing account after its password ---------------------------------------------


async def _pending_identity(
    keys: KeyRing, issuer: str, provider: Provider, ticket: str | None
) -> tuple[ExternalIdentity, str]:
    data = await unseal(keys, issuer, _LINK, ticket)
    if data is None or data.get("p") != provider.slug:
        raise FlowError("no valid link ticket", STALE_FLOW)
    subject, claims = data.get("sub"), data.get("claims")
    if not isinstance(subject, str) or not isinstance(claims, dict):
        raise FlowError("malformed link ticket", STALE_FLOW)
    return ExternalIdentity.from_stored(provider.slug, subject, claims), safe_next(data.get("next")) or "/"


async def link_form(keys: KeyRing, provider: Provider, *, issuer: str, ticket: str | None) -> LinkForm:
    identity, next_path = await _pending_identity(keys, issuer, provider, ticket)
    return LinkForm(email=identity.email, next=next_path)


async def link_with_password(
    kit: ServiceContext,
    keys: KeyRing,
    provider: Provider,
    *,
    issuer: str,
    ticket: str | None,
    email: str,
    password: str,
    ip: str,
    session_ttl: int,
) -> SignedIn | MustComplete:
    """Link the pending external identity to the account whose password is given, then sign in (or ask
    for what is still missing). It is a sign-in like the sign-in page's, with its throttle (per account and
    per address, audited lockouts): a wrong password links nothing and raises :class:`FormRefused`."""
    identity, next_path = await _pending_identity(keys, issuer, provider, ticket)
    try:
        address = normalise_email(email)
    except InvalidInput:
        address = email.strip().lower()[:320]
    locked = FormRefused("Слишком много неудачных попыток входа. Попробуйте позже.")
    async with kit.session_factory() as session:
        user = await users_db.user_by_email(session, address) if "@" in address else None
        keys_ = throttle.ThrottleKeys.of(user_id=user.id if user else None, email=address, ip=ip)
        if (await throttle.current_locks(session, keys_, datetime.now(UTC))).any:
            raise locked
    good = await asyncio.to_thread(verify_password, password[:1024], user.password_hash if user else None)
    async with kit.unit_of_work() as uow:
        session = uow.session
        if (await throttle.current_locks(session, keys_, datetime.now(UTC), for_update=True)).any:
            raise locked
        if not good or user is None:
            locks = await throttle.record_failure(session, keys_, datetime.now(UTC))
            await uow.commit()
            raise locked if locks.any else FormRefused("Неверный адрес электронной почты или пароль.")
        await throttle.record_success(session, keys_)
        if user.email_verified_at is None:
            # The sign-in page refuses an account whose address is unconfirmed; so do we, unless the provider
            # vouches for that very address, which confirms it.
            if not (identity.email_verified and identity.email == user.email):
                await uow.commit()
                raise FormRefused(
                    "Сначала подтвердите адрес электронной почты этой учётной записи по ссылке из письма, "
                    "затем войдите снова."
                )
            await federation_db.mark_email_verified(session, user.id)

        await federation_db.lock_external_subject(session, provider.slug, identity.subject)
        link = await federation_db.identity_by_subject(session, provider.slug, identity.subject)
        if link is not None and link.user_id != user.id:
            raise FormRefused(f"Этот вход через {provider.display_name} уже связан с другой учётной записью.")
        if link is None:
            linked = await federation_db.identities_of_user(session, user.id)
            if any(row.provider == provider.slug for row in linked):
                raise FormRefused(
                    f"К этой учётной записи уже привязан другой вход через {provider.display_name}. "
                    "Сначала отвяжите его в профиле."
                )
            await _link(session, provider, identity, user.id)
        outcome = await _sign_in_or_ask(
            session, keys, provider, user.id, user.email, issuer=issuer, next_path=next_path, ttl=session_ttl
        )
        await uow.commit()
    return outcome


# --- unlinking ---------------------------------------------------------------------------------------


async def unlink_identity(kit: ServiceContext, user_id: uuid.UUID, provider_slug: str) -> None:
    """Remove the user's link with ``provider_slug``. Raises :class:`NotLinked`, or :class:`LastSignInMethod`
    when the account has no password and no other link (it could never be signed in to again). The role
    ``volunteer`` that a link granted goes with the last link that grants it; one an operator granted stays."""
    async with kit.unit_of_work() as uow:
        session = uow.session
        user = await federation_db.lock_user(session, user_id)
        if user is None:
            raise NotLinked
        linked = await federation_db.identities_of_user(session, user_id)
        mine = [row for row in linked if row.provider == provider_slug]
        if not mine:
            raise NotLinked
        remaining = [row for row in linked if row.provider != provider_slug]
        if user.password_hash is None and not remaining:
            raise LastSignInMethod
        await federation_db.delete_identities_of_user(session, user_id, provider_slug)
        await users_db.audit(
            session, "identity.unlinked", actor_id=user_id, subject_id=user_id, details={"provider": provider_slug}
        )
        if _grants_volunteer(mine[0].settings) and not any(_grants_volunteer(row.settings) for row in remaining):
            held, granted_by = await federation_db.role_granted_by(session, user_id, VOLUNTEER)
            if held and granted_by is None and await users_db.revoke_role(session, user_id, VOLUNTEER):
                await users_db.audit(
                    session,
                    "role.revoked",
                    actor_id=user_id,
                    subject_id=user_id,
                    details={"role": VOLUNTEER, "via": provider_slug},
                )
        await uow.commit()


def _grants_volunteer(settings: Any) -> bool:
    return isinstance(settings, dict) and settings.get("grant_volunteer", True) is True
