"""The demo loader: idempotent, and its invitation binds the demo official to the administration."""

from __future__ import annotations

import re
import uuid

import httpx
from sqlalchemy import text

from routing import demo
from routing.settings import RoutingSettings
from servicekit.app import ServiceContext
from servicekit.testing.plugin import TestStack

from .helpers import auth


async def test_demo_twice_then_the_official_accepts(
    routing_settings: RoutingSettings, kit: ServiceContext, client: httpx.AsyncClient, gorod_stack: TestStack
) -> None:
    async with kit.session_factory() as session, session.begin():  # other tests bind officials there too
        await session.execute(
            text("DELETE FROM routing.officials WHERE authority_id = :a"), {"a": demo.authority_id(demo.ADMINISTRATION)}
        )
    first = await demo.load(routing_settings)
    second = await demo.load(routing_settings)
    async with kit.session_factory() as session:
        counts = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM routing.territories WHERE oktmo LIKE '46%'),"
                    " (SELECT count(*) FROM routing.jurisdiction_rules WHERE territory_id = :town)"
                ),
                {"town": demo.territory_id(demo.TOWN)},
            )
        ).one()
    assert tuple(counts) == (len(demo.TERRITORIES), len(demo.RULES))
    async with kit.session_factory() as session:
        channels = dict(
            (
                await session.execute(
                    text(
                        "SELECT id, channel || ' ' || coalesce(email, '') FROM routing.authorities WHERE id = ANY(:ids)"
                    ),
                    {"ids": [demo.authority_id(slug) for slug, *_ in demo.AUTHORITIES]},
                )
            ).all()
        )
    # Every demo authority takes appeals in its cabinet, but one, which shows the e-mail channel.
    assert channels[demo.authority_id(demo.ECOLOGY)] == "email ekologia@kolomna.example"
    assert channels[demo.authority_id(demo.ROADS)] == "cabinet "
    assert demo.RULES["ecology.water"] == demo.ECOLOGY
    tokens = [re.search(r'"token": "([^"]+)"', line) for line in first + second]
    found = [m.group(1) for m in tokens if m]
    assert len(found) == 2  # nobody accepted yet: each run offers an invitation
    official = uuid.uuid4()
    accepted = await client.post(
        "/api/v1/cabinet/invitations/accept", json={"token": found[1]}, headers=auth(gorod_stack, official, "official")
    )
    assert accepted.json()["authority_id"] == str(demo.authority_id(demo.ADMINISTRATION))
    third = await demo.load(routing_settings)
    assert not any("token" in line for line in third)
    assert "Коломна" in third[0]
