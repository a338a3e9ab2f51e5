"""Which authority answers for a place and a category, and why, in words an official understands."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TerritoryRef:
    id: uuid.UUID
    name: str
    oktmo: str


@dataclass(frozen=True)
class Rule:
    territory_id: uuid.UUID
    authority_id: uuid.UUID
    authority_name: str
    note: str | None = None


@dataclass(frozen=True)
class Administration:
    territory_id: uuid.UUID
    authority_id: uuid.UUID
    authority_name: str


@dataclass(frozen=True)
class Decision:
    authority_id: uuid.UUID
    authority_name: str
    territory: TerritoryRef
    """The territory whose rule (or administration) decided."""
    location: TerritoryRef
    """The most specific territory containing the point: where the problem is."""
    reason: str


class NoAuthority(Exception):
    """Nobody answers here: no rule and no administration for any territory containing the point."""


def decide(
    territories: Sequence[TerritoryRef],
    rules: Sequence[Rule],
    administrations: Sequence[Administration],
    *,
    category_code: str,
    category_name: str,
) -> Decision:
    """``territories`` contain the point, most specific first; ``rules`` are the rules for the category on any
    of them. The most specific territory with a rule wins; failing that, the most specific territory with an
    administration."""
    if not territories:
        raise NoAuthority("Точка не входит ни в одну известную территорию.")
    innermost = territories[0]
    by_territory = {rule.territory_id: rule for rule in rules}
    for territory in territories:
        rule = by_territory.get(territory.id)
        if rule is not None:
            reason = (
                f"Место проблемы находится на территории «{innermost.name}» (ОКТМО {innermost.oktmo}). "
                f"По правилу подведомственности для территории «{territory.name}» (ОКТМО {territory.oktmo}) "
                f"вопросы категории «{category_name}» решает {rule.authority_name}."
            )
            if rule.note:
                reason += f" Основание: {rule.note}."
            return Decision(rule.authority_id, rule.authority_name, territory, innermost, reason)
    admins = {admin.territory_id: admin for admin in administrations}
    for territory in territories:
        admin = admins.get(territory.id)
        if admin is not None:
            reason = (
                f"Место проблемы находится на территории «{innermost.name}» (ОКТМО {innermost.oktmo}). "
                f"Для категории «{category_name}» правило подведомственности не задано, поэтому обращение "
                f"направлено в администрацию территории «{territory.name}»: {admin.authority_name}."
            )
            return Decision(admin.authority_id, admin.authority_name, territory, innermost, reason)
    raise NoAuthority("Для территории не указан ни ответственный орган, ни администрация.")
