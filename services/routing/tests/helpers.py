"""Helpers of the routing tests: opening appeals through the use case, officials bound by invitation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from routing.events.consumed import on_problem_published
from servicekit.app import ServiceContext
from servicekit.testing.plugin import TestStack

from .conftest import appeals_of_problem, published_event


def auth(stack: TestStack, user_id: uuid.UUID, *roles: str) -> dict[str, str]:
    return stack.tokens.bearer("routing", subject=str(user_id), roles=list(roles))


async def open_appeal(kit: ServiceContext, **kwargs: Any) -> Any:
    """Run the published-problem handler (the same code the consumer runs) and return the appeal row."""
    event = published_event(**kwargs)
    async with kit.unit_of_work() as uow:
        await on_problem_published(event, uow)
        await uow.commit()
    [row] = await appeals_of_problem(kit, event.data["problem_id"])
    return row


async def bind_official(
    client: httpx.AsyncClient, stack: TestStack, authority_id: uuid.UUID, position: str = "Специалист"
) -> uuid.UUID:
    """An operator invites, a new official accepts: returns the official's user id."""
    operator = auth(stack, uuid.uuid4(), "operator")
    invited = await client.post(
        f"/admin/v1/routing/authorities/{authority_id}/invitations", json={"position": position}, headers=operator
    )
    assert invited.status_code == 201, invited.text
    user_id = uuid.uuid4()
    accepted = await client.post(
        "/api/v1/cabinet/invitations/accept",
        json={"token": invited.json()["token"]},
        headers=auth(stack, user_id, "official"),
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["authority_id"] == str(authority_id)
    return user_id
