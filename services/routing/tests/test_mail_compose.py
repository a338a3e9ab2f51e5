"""The appeal e-mail (59-FZ content, Russian) and the per-appeal reply addresses. No I/O."""

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, datetime

import pytest

from routing.mail import compose
from routing.mail.reply_address import new_token, reply_address, token_from_address, tokens_in

APPEAL = uuid.UUID("0b0e1f43-6a1d-4c55-9e3b-1f1e2a3b4c5d")
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def letter(**changes: object) -> compose.AppealLetter:
    base = compose.AppealLetter(
        appeal_id=APPEAL,
        authority_name="Администрация Городского округа Коломна",
        authority_email="uprava@kolomna.example",
        category_name="Яма на дороге",
        title="Глубокая яма у остановки «Площадь Двух Революций»",
        description="Яма около 40 см в диаметре, заполнена водой, машины объезжают по встречной полосе.",
        address="Коломна, ул. Октябрьской Революции, 191",
        lon=38.7783,
        lat=55.0794,
        published_at=NOW,
        applicant=compose.Applicant(
            full_name="Смирнова Анна Петровна",
            email="anna.smirnova@example.org",
            postal_address="140400, Коломна, ул. Ленина, д. 5, кв. 12",
        ),
        photos=("https://media.gorod.example/p/1.jpg", "https://media.gorod.example/p/2.jpg"),
        public_url="https://gorod.example/problems/42",
        reason="Точка в границах городского округа Коломна; категория «Яма на дороге» закреплена за администрацией.",
        registration_due_at=datetime(2026, 11, 25, 20, 59, tzinfo=UTC),
    )
    return compose.AppealLetter(**{**base.__dict__, **changes})


def roundtrip(message: email.message.EmailMessage) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def text_of(message: email.message.EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def test_citizen_appeal_has_everything_59_fz_asks() -> None:
    token = new_token()
    reply_to = reply_address(token, local_part="appeal", domain="gorod.example")
    message = roundtrip(
        compose.compose(
            letter(),
            from_address="obrashcheniya@gorod.example",
            from_name="Платформа «Город»",
            reply_to=reply_to,
            now=NOW,
        )
    )
    body = text_of(message)
    assert message["To"] == "uprava@kolomna.example"
    assert message["Reply-To"] == reply_to
    assert "Платформа «Город»" in str(message["From"])
    assert message["Subject"].startswith("Обращение гражданина № ")
    assert "Глубокая яма" in message["Subject"]
    assert message[compose.APPEAL_ID_HEADER] == str(APPEAL)
    # The addressee, the applicant's name and addresses for the answer, the substance, place, photos, date.
    assert body.startswith("В Администрация Городского округа Коломна\n")
    assert "Смирнова Анна Петровна" in body
    assert "anna.smirnova@example.org" in body
    assert "140400, Коломна, ул. Ленина, д. 5, кв. 12" in body
    assert "Яма около 40 см в диаметре" in body
    assert "Коломна, ул. Октябрьской Революции, 191" in body
    assert "55.079400, 38.778300" in body
    assert "1. https://media.gorod.example/p/1.jpg" in body
    assert "2. https://media.gorod.example/p/2.jpg" in body
    assert "59-ФЗ" in body
    assert "22.11.2026 12:30" in body  # published, Moscow time
    assert "не позднее 25.11.2026" in body  # 23:59 Moscow
    assert reply_to in body
    assert "Результат: решено" in body


def test_anonymous_report_is_the_platforms_and_carries_no_personal_data() -> None:
    message = roundtrip(
        compose.compose(
            letter(applicant=None),
            from_address="obrashcheniya@gorod.example",
            from_name="Платформа «Город»",
            reply_to="appeal+x@gorod.example",
            now=NOW,
        )
    )
    body = text_of(message)
    assert message["Subject"].startswith("Сообщение о проблеме № ")
    assert "СООБЩЕНИЕ О ПРОБЛЕМЕ" in body
    assert "без указания своих персональных данных" in body
    assert "Смирнова" not in body
    assert "anna.smirnova" not in body
    assert "Ленина" not in body
    assert "ОБРАЩЕНИЕ №" not in body


def test_repeat_appeal_says_so() -> None:
    first = uuid.uuid4()
    message = compose.compose(
        letter(repeat_of=first),
        from_address="o@gorod.example",
        from_name="Город",
        reply_to="a+b@gorod.example",
        now=NOW,
    )
    assert message["Subject"].startswith("Повторное обращение гражданина № ")
    assert str(first) in text_of(roundtrip(message))


def test_long_title_is_shortened_in_the_subject_only() -> None:
    title = "Очень длинное название " * 20
    message = compose.compose(
        letter(title=title), from_address="o@gorod.example", from_name="Город", reply_to="a+b@gorod.example", now=NOW
    )
    assert len(message["Subject"]) < 160
    assert message["Subject"].endswith("…")


def test_tokens_are_unguessable_and_case_safe() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in list(tokens)[:50]:
        assert len(token) == 32
        assert token == token.lower()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("appeal+abcdefghijklmnopqrstuvwxyz234567@gorod.example", "abcdefghijklmnopqrstuvwxyz234567"),
        ("Платформа <APPEAL+abcdefghijklmnopqrstuvwxyz234567@GOROD.EXAMPLE>", "abcdefghijklmnopqrstuvwxyz234567"),
        ("appeal+Ab-_cdefghijklmnop@gorod.example", "Ab-_cdefghijklmnop"),
        ("appeal@gorod.example", None),
        ("other+abcdefghijklmnopqrstuvwxyz234567@gorod.example", None),
        ("appeal+abcdefghijklmnopqrstuvwxyz234567@evil.example", None),
        ("appeal+short@gorod.example", None),
        ("appeal+abc.def.ghi.jkl.mno.pqr@gorod.example", None),
        ("", None),
    ],
)
def test_token_from_address(address: str, expected: str | None) -> None:
    assert token_from_address(address, local_part="appeal", domain="gorod.example") == expected


def test_tokens_in_headers_with_several_addresses() -> None:
    first, second = new_token(), new_token()
    found = tokens_in(
        [
            f"Иван <ivan@kolomna.example>, appeal+{first}@gorod.example",
            f"appeal+{second}@gorod.example",
            f"appeal+{first}@gorod.example",
        ],
        local_part="appeal",
        domain="gorod.example",
    )
    assert found == [first, second]
