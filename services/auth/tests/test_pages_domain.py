"""The account rules in plain Python: e-mail, password policy, phone and OKTMO, safe ``next``, throttling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auth.domain.accounts import (
    ACCOUNT_THROTTLE,
    InvalidInput,
    ProfileFields,
    Registration,
    ThrottlePolicy,
    check_password,
    fresh_throttle_state,
    normalise_email,
    normalise_oktmo,
    normalise_phone,
    register_failure,
    safe_next,
    validate_profile,
    validate_registration,
)
from auth.usecases.accounts import DEFAULT_CONSENT_BODY, DEFAULT_CONSENT_VERSION


def test_email_is_normalised_and_lower_cased() -> None:
    assert normalise_email("  Ivan.Petrov@Example.ORG ") == "ivan.petrov@example.org"
    assert normalise_email("иван@пример.рф") == "иван@пример.рф"


@pytest.mark.parametrize("raw", ["", "ivan", "ivan@", "a@b", "a..b@example.org", "x@gorod.local", "a b@example.org"])
def test_bad_email_is_refused_in_russian(raw: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        normalise_email(raw)
    assert any("а" <= ch <= "я" for ch in str(refused.value).lower())


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("Short1!", "не короче 10"),
        ("alllowercaseletters", "только из букв одного регистра"),
        ("12345678901234", "только из букв одного регистра"),
        ("ПАРОЛЬПАРОЛЬПАРОЛЬ", "только из букв одного регистра"),
        ("aaaaaaaaaaA1", "мало разных символов"),
        ("Ivan.Petrov@example.org", "не должен совпадать с адресом"),
        ("x" * 257 + "A1", "не длиннее"),
    ],
)
def test_password_policy_refuses(password: str, why: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_password(password, email="ivan.petrov@example.org")
    assert why in str(refused.value)


@pytest.mark.parametrize("password", ["correct horse battery staple", "Пароль-для-Города-2026", "tr0ub4dor&3x"])
def test_password_policy_accepts(password: str) -> None:
    check_password(password, email="ivan.petrov@example.org")


def test_phone_and_oktmo() -> None:
    assert normalise_phone("+7 (912) 345-67-89") == "+79123456789"
    assert normalise_phone("8 912 345 67 89") == "+79123456789"
    assert normalise_phone("  ") is None
    for bad in ("12-34", "+7 912 abc", "+1234567890123456"):
        with pytest.raises(InvalidInput):
            normalise_phone(bad)
    assert normalise_oktmo("") is None
    assert normalise_oktmo("45 38 30 00") == "45383000"
    assert normalise_oktmo("45383000001") == "45383000001"
    for bad in ("4538300", "453830000", "4538300000x"):
        with pytest.raises(InvalidInput):
            normalise_oktmo(bad)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "https://evil.example/",
        "evil.example",
        "javascript:alert(1)",
        "/ok\\..\\",
        "",
        None,
    ],
)
def test_next_never_leaves_the_site(target: str | None) -> None:
    assert safe_next(target) == "/profile"


def test_next_keeps_a_local_path() -> None:
    assert safe_next("/oauth2/authorize?client_id=gorod-web&state=x%2F") == (
        "/oauth2/authorize?client_id=gorod-web&state=x%2F"
    )


def test_throttle_locks_at_the_limit_and_starts_afresh() -> None:
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    state = fresh_throttle_state(now)
    for attempt in range(1, ACCOUNT_THROTTLE.max_failures):
        state, locked = register_failure(state, now + timedelta(seconds=attempt), ACCOUNT_THROTTLE)
        assert not locked
        assert not state.locked(now + timedelta(seconds=attempt))
    later = now + timedelta(minutes=1)
    state, locked = register_failure(state, later, ACCOUNT_THROTTLE)
    assert locked
    assert state.locked(later + ACCOUNT_THROTTLE.lockout - timedelta(seconds=1))
    assert not state.locked(later + ACCOUNT_THROTTLE.lockout)
    # After the lock, one failure is one failure again.
    after = later + ACCOUNT_THROTTLE.lockout + timedelta(seconds=1)
    state, locked = register_failure(state, after, ACCOUNT_THROTTLE)
    assert not locked
    assert state.failures == 1


def test_throttle_window_expires() -> None:
    policy = ThrottlePolicy(max_failures=2, window=timedelta(minutes=15), lockout=timedelta(minutes=15))
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    state, _ = register_failure(fresh_throttle_state(now), now, policy)
    state, locked = register_failure(state, now + timedelta(minutes=16), policy)
    assert not locked
    assert state.failures == 1
    _, locked = register_failure(state, now + timedelta(minutes=17), policy)
    assert locked


def test_registration_collects_every_error() -> None:
    result = validate_registration(
        email="not-an-email",
        password="short",
        full_name="  ",
        phone="abc",
        home_territory="123",
        consent=False,
        consent_version="2026-11-01",
        current_consent_version="2026-11-01",
    )
    assert isinstance(result, dict)
    assert set(result) == {"email", "password", "full_name", "phone", "home_territory", "consent"}


def test_registration_requires_the_current_consent() -> None:
    fields = {
        "email": "Ivan@Example.org",
        "password": "correct horse battery staple",
        "full_name": " Иван   Петров ",
        "phone": "",
        "home_territory": "45383000",
        "consent": True,
    }
    stale = validate_registration(**fields, consent_version="2020-01-01", current_consent_version="2026-11-01")
    assert isinstance(stale, dict)
    assert set(stale) == {"consent"}
    good = validate_registration(**fields, consent_version="2026-11-01", current_consent_version="2026-11-01")
    assert good == Registration(
        "ivan@example.org", "correct horse battery staple", "Иван Петров", None, "45383000", "2026-11-01"
    )


def test_profile_email_optional_only_without_one() -> None:
    assert validate_profile(full_name="Иван", phone="", home_territory="", email="", has_email=False) == (
        ProfileFields("Иван", None, None, None)
    )
    refused = validate_profile(full_name="Иван", phone="", home_territory="", email="", has_email=True)
    assert isinstance(refused, dict)
    assert set(refused) == {"email"}


def test_the_default_consent_document_is_about_152_fz() -> None:
    assert DEFAULT_CONSENT_VERSION == "2026-11-01"
    assert "152-ФЗ" in DEFAULT_CONSENT_BODY
    assert "персональных данных" in DEFAULT_CONSENT_BODY
