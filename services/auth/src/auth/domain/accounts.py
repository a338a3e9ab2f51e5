"""Rules of people's accounts, in plain Python: what a valid e-mail, password, phone and home territory are,
where a sign-in may send the browser next, and when repeated failed sign-ins lock an account or an address.

Messages are in Russian: they are shown to the person on the page as they are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from email_validator import EmailNotValidError, validate_email

CONFIRM_EMAIL_TTL = timedelta(hours=24)
RESET_PASSWORD_TTL = timedelta(hours=1)
MAX_LINKS_PER_HOUR = 3
"""At most this many e-mail links of one purpose per account an hour: nobody can flood an inbox through us."""

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 256
"""argon2 hashes anything, but an unbounded password is a cheap way to burn our CPU."""
FULL_NAME_MAX_LENGTH = 200
EMAIL_MAX_LENGTH = 254


T = TypeVar("T")


class InvalidInput(ValueError):
    """A value a person typed that we cannot accept; ``str(error)`` is the Russian message to show."""


# --- e-mail ---------------------------------------------------------------------------------------------


def normalise_email(raw: str) -> str:
    """The canonical, lower-cased form of an e-mail address, or :class:`InvalidInput`.

    Syntax only (``check_deliverability=False``): no DNS look-ups; the confirmation link proves the rest.
    """
    value = raw.strip()
    if not value:
        raise InvalidInput("Укажите адрес электронной почты.")
    if len(value) > EMAIL_MAX_LENGTH:
        raise InvalidInput("Адрес электронной почты слишком длинный.")
    try:
        validated = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise InvalidInput(
            "Похоже, в адресе электронной почты ошибка. Проверьте его: например, ivan@example.ru."
        ) from None
    return validated.normalized.lower()


# --- password -------------------------------------------------------------------------------------------


def _character_classes(password: str) -> set[str]:
    classes = set()
    for ch in password:
        if ch.isdigit():
            classes.add("digit")
        elif ch.isalpha():
            classes.add("upper" if ch.isupper() else "lower")
        else:
            classes.add("other")
    return classes


def check_password(password: str, *, email: str | None) -> None:
    """Raises :class:`InvalidInput` unless ``password`` is acceptable for the account of ``email``.

    The policy (NIST SP 800-63B in spirit): long enough, not trivially uniform, not the e-mail itself.
    """
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInput(f"Пароль должен быть не короче {PASSWORD_MIN_LENGTH} символов.")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidInput(f"Пароль должен быть не длиннее {PASSWORD_MAX_LENGTH} символов.")
    if len(_character_classes(password)) < 2:
        raise InvalidInput(
            "Пароль не должен состоять только из букв одного регистра или только из цифр: "
            "добавьте цифры, заглавные буквы или другие знаки."
        )
    if len(set(password)) < 4:
        raise InvalidInput("В пароле слишком мало разных символов.")
    if email:
        lowered = password.strip().lower()
        local_part = email.lower().split("@", 1)[0]
        if lowered == email.lower() or lowered == local_part:
            raise InvalidInput("Пароль не должен совпадать с адресом электронной почты.")


# --- profile fields -------------------------------------------------------------------------------------


def normalise_full_name(raw: str) -> str:
    value = " ".join(unicodedata.normalize("NFC", raw).split())
    if not value:
        raise InvalidInput("Укажите, как к вам обращаться.")
    if len(value) > FULL_NAME_MAX_LENGTH:
        raise InvalidInput(f"Имя должно быть не длиннее {FULL_NAME_MAX_LENGTH} символов.")
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise InvalidInput("В имени есть недопустимые символы.")
    return value


_PHONE_CHARS = re.compile(r"^\+?[0-9 ()\-]+$")


def normalise_phone(raw: str) -> str | None:
    """Optional. ``+7 (912) 345-67-89`` and ``8 912 345 67 89`` both become ``+79123456789``."""
    value = raw.strip()
    if not value:
        return None
    if not _PHONE_CHARS.match(value):
        raise InvalidInput("Телефон может содержать только цифры, пробелы, скобки, дефисы и «+» в начале.")
    digits = re.sub(r"\D", "", value)
    if not value.startswith("+") and len(digits) == 11 and digits[0] == "8":
        digits = "7" + digits[1:]  # the Russian trunk prefix
    elif not value.startswith("+") and len(digits) == 10:
        digits = "7" + digits
    if not 10 <= len(digits) <= 15:
        raise InvalidInput("Проверьте номер телефона: например, +7 912 345-67-89.")
    return "+" + digits


_OKTMO = re.compile(r"^(?:\d{8}|\d{11})$")


def normalise_oktmo(raw: str) -> str | None:
    """Optional home territory: an OKTMO code of 8 (municipality) or 11 (settlement) digits."""
    value = re.sub(r"[\s\-]", "", raw)
    if not value:
        return None
    if not _OKTMO.match(value):
        raise InvalidInput("Код ОКТМО состоит из 8 или 11 цифр.")
    return value


# --- where to go after signing in -----------------------------------------------------------------------


def safe_next(target: str | None, default: str = "/profile") -> str:
    """``target`` if it is a path on this site, else ``default``: a sign-in link must never send the
    browser to another site (open redirect).

    Accepted: starts with ``/`` but not ``//`` or ``/\\`` (both mean "another host" to browsers), and has
    no backslash, whitespace or control characters anywhere (browsers drop tabs and newlines from URLs, so
    ``/\\t/evil.example`` would become ``//evil.example``).
    """
    if not target or len(target) > 2048:
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in target):
        return default
    return target


# --- login throttling -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int
    window: timedelta
    lockout: timedelta


ACCOUNT_THROTTLE = ThrottlePolicy(max_failures=5, window=timedelta(minutes=15), lockout=timedelta(minutes=15))
"""Five wrong passwords for one account within 15 minutes lock that account for 15 minutes."""
IP_THROTTLE = ThrottlePolicy(max_failures=20, window=timedelta(minutes=15), lockout=timedelta(minutes=15))
"""Twenty failures from one address within 15 minutes, whatever the accounts, lock the address."""


@dataclass(frozen=True)
class ThrottleState:
    failures: int
    window_started_at: datetime
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


def register_failure(state: ThrottleState, now: datetime, policy: ThrottlePolicy) -> tuple[ThrottleState, bool]:
    """The state after one more failure, and whether this failure is the one that locks."""
    if now - state.window_started_at >= policy.window:
        state = ThrottleState(failures=0, window_started_at=now)  # a fresh window
    failures = state.failures + 1
    if failures >= policy.max_failures and not state.locked(now):
        # Locked: the count starts again when the lock ends.
        return ThrottleState(
            failures=0, window_started_at=now + policy.lockout, locked_until=now + policy.lockout
        ), True
    return replace(state, failures=failures), False


def fresh_throttle_state(now: datetime) -> ThrottleState:
    return ThrottleState(failures=0, window_started_at=now)


# --- forms ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    email: str
    password: str
    full_name: str
    phone: str | None
    home_territory: str | None
    consent_version: str


@dataclass(frozen=True)
class ProfileFields:
    full_name: str
    phone: str | None
    home_territory: str | None
    email: str | None


def _field(errors: dict[str, str], name: str, check: Callable[[], T]) -> T | None:
    try:
        return check()
    except InvalidInput as error:
        errors[name] = str(error)
        return None


def validate_registration(
    *,
    email: str,
    password: str,
    full_name: str,
    phone: str,
    home_territory: str,
    consent: bool,
    consent_version: str,
    current_consent_version: str,
) -> Registration | dict[str, str]:
    """The registration, or the Russian error of each bad field (by field name)."""
    errors: dict[str, str] = {}
    clean_email = _field(errors, "email", lambda: normalise_email(email))
    _field(errors, "password", lambda: check_password(password, email=clean_email or email.strip()))
    clean_name = _field(errors, "full_name", lambda: normalise_full_name(full_name))
    clean_phone = _field(errors, "phone", lambda: normalise_phone(phone))
    clean_territory = _field(errors, "home_territory", lambda: normalise_oktmo(home_territory))
    if not consent:
        errors["consent"] = "Чтобы зарегистрироваться, нужно согласие на обработку персональных данных."
    elif consent_version != current_consent_version:
        errors["consent"] = "Текст согласия обновился. Прочитайте его ещё раз и подтвердите согласие."
    if errors or clean_email is None or clean_name is None:
        return errors
    return Registration(clean_email, password, clean_name, clean_phone, clean_territory, consent_version)


def validate_profile(
    *, full_name: str, phone: str, home_territory: str, email: str, has_email: bool = True
) -> ProfileFields | dict[str, str]:
    """The profile's new values, or the Russian error of each bad field. An account that has no e-mail
    yet (a federated one) may leave it empty (``email`` is then None)."""
    errors: dict[str, str] = {}
    clean_name = _field(errors, "full_name", lambda: normalise_full_name(full_name))
    clean_phone = _field(errors, "phone", lambda: normalise_phone(phone))
    clean_territory = _field(errors, "home_territory", lambda: normalise_oktmo(home_territory))
    clean_email = None
    if email.strip() or has_email:
        clean_email = _field(errors, "email", lambda: normalise_email(email))
        if clean_email is None:
            return errors
    if errors or clean_name is None:
        return errors
    return ProfileFields(clean_name, clean_phone, clean_territory, clean_email)
