"""The delivery hooks the e-mail channel calls: pending rows in the appeal's transaction, the letter, delivered /
failed / bounced, and the operators' list of failures."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text

from routing import demo
from routing.usecases import admin, delivery
from servicekit.app import ServiceContext
from servicekit.testing.plugin import TestStack

from .conftest import outbox
from .helpers import auth, open_appeal

APPLICANT = {"full_name": "Ольга Кузнецова", "email": "olga@example.org", "postal_address": None}


async def _email_authority(kit: ServiceContext) -> uuid.UUID:
    async with kit.unit_of_work() as uow:
        authority_id = await admin.save_authority(
            uow,
            authority_id=None,
            name="МУП «Коломенский водоканал»",
            kind="department",
            parent_id=demo.authority_id(demo.ADMINISTRATION),
            territory_id=None,
            timezone="Europe/Moscow",
            channel="email",
            email="priemnaya@vodokanal.example",
            calendar_subdiv=None,
            extra_holidays=[],
            extra_workdays=[],
            active=True,
        )
        await admin.save_rule(
            uow,
            territory_id=demo.territory_id("46738000104"),
            category_code="water.leak",
            authority_id=authority_id,
            note=None,
        )
        await uow.commit()
    return authority_id


async def _delivery(kit: ServiceContext, appeal_id: uuid.UUID) -> object:
    async with kit.session_factory() as session:
        return (
            await session.execute(text("SELECT * FROM routing.deliveries WHERE appeal_id = :id"), {"id": appeal_id})
        ).one()


async def test_email_channel_hooks(kit: ServiceContext, client: httpx.AsyncClient, gorod_stack: TestStack) -> None:
    authority_id = await _email_authority(kit)
    appeal = await open_appeal(kit, category_code="water.leak", lon=38.82, lat=55.05, applicant=APPLICANT)
    assert appeal.authority_id == authority_id
    assert appeal.channel == "email"
    row = await _delivery(kit, appeal.id)
    assert row.status == "pending"  # type: ignore[attr-defined]
    assert row.channel == "email"  # type: ignore[attr-defined]

    async with kit.unit_of_work() as uow:
        claimed = await delivery.pending_email_deliveries(uow.session)
        assert row.id in claimed  # type: ignore[attr-defined]
        letter = await delivery.letter_for(uow.session, appeal.id)
    assert letter.authority_email == "priemnaya@vodokanal.example"
    assert letter.applicant_name == "Ольга Кузнецова"
    assert letter.reply_token == appeal.reply_token
    assert letter.photos == ["https://media.gorod.example/p/1.jpg"]
    assert abs(letter.lon - 38.82) < 1e-9

    async with kit.unit_of_work() as uow:
        await delivery.mark_failed(uow, row.id, error="421 try later", retry_at=None)  # type: ignore[attr-defined]
        await uow.commit()
    [failed] = await outbox(kit, "routing.appeal.delivery_failed.v1", appeal.id)
    assert failed["data"]["channel"] == "email"
    assert failed["data"]["error"] == "421 try later"
    listed = await client.get(
        "/admin/v1/routing/deliveries/failed", headers=auth(gorod_stack, uuid.uuid4(), "operator")
    )
    assert str(appeal.id) in [d["appeal_id"] for d in listed.json()["items"]]

    async with kit.unit_of_work() as uow:
        await delivery.mark_delivered(uow, row.id, external_id="<abc@gorod>")  # type: ignore[attr-defined]
        await delivery.record_bounce(uow, appeal.id, error="550 no such mailbox")
        await uow.commit()
    row = await _delivery(kit, appeal.id)
    assert row.status == "bounced"  # type: ignore[attr-defined]
    assert row.external_id == "<abc@gorod>"  # type: ignore[attr-defined]
    assert len(await outbox(kit, "routing.appeal.delivery_failed.v1", appeal.id)) == 2
    async with kit.session_factory() as session:
        kinds = [
            r[0]
            for r in await session.execute(
                text("SELECT kind FROM routing.appeal_events WHERE appeal_id = :id ORDER BY id"), {"id": appeal.id}
            )
        ]
    assert kinds == ["sent", "delivery_failed", "delivered", "bounced"]


async def test_retry_keeps_the_delivery_pending(kit: ServiceContext) -> None:
    await _email_authority(kit)
    appeal = await open_appeal(kit, category_code="water.leak", lon=38.83, lat=55.06)
    row = await _delivery(kit, appeal.id)
    async with kit.session_factory() as session:
        later = (await session.execute(text("SELECT now() + interval '1 hour'"))).scalar_one()
    async with kit.unit_of_work() as uow:
        await delivery.mark_failed(uow, row.id, error="timeout", retry_at=later)  # type: ignore[attr-defined]
        await uow.commit()
    row = await _delivery(kit, appeal.id)
    assert row.status == "pending"  # type: ignore[attr-defined]
    assert row.attempts == 1  # type: ignore[attr-defined]
    async with kit.unit_of_work() as uow:
        assert row.id not in await delivery.pending_email_deliveries(uow.session)  # type: ignore[attr-defined]
    assert await outbox(kit, "routing.appeal.delivery_failed.v1", appeal.id) == []
