"""Loads the routing service's demo data (safe to run twice): ``python -m routing.demo``.

The demo town of every service (fixed by the lead): Московская область → городской округ Коломна → four
districts (the quadrants of the town's extent), its administration with four departments (one of them takes
appeals by e-mail only, so the demo shows that channel too), two supervisory bodies, jurisdiction rules for the
problems service's category codes, and an invitation that binds the demo official (``official@example.org``, whose
id auth creates at random) to the administration.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from routing.db.tables import authorities, jurisdiction_rules, officials, response_templates, supervisors, territories
from routing.settings import RoutingSettings
from servicekit.db import create_engine, create_session_factory


def territory_id(oktmo: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"gorod:territory:{oktmo}")


def authority_id(slug: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"gorod:authority:{slug}")


def _box(west: float, south: float, east: float, north: float) -> str:
    ring = f"{west} {south}, {east} {south}, {east} {north}, {west} {north}, {west} {south}"
    return f"SRID=4326;MULTIPOLYGON((({ring})))"


@dataclass(frozen=True)
class DemoTerritory:
    oktmo: str
    name: str
    level: str
    parent: str | None
    box: tuple[float, float, float, float]


REGION, TOWN = "46000000", "46738000"
TERRITORIES = (
    DemoTerritory(REGION, "Московская область", "region", None, (35.14, 54.25, 40.21, 56.96)),
    DemoTerritory(TOWN, "городской округ Коломна", "urban_okrug", REGION, (38.70, 55.04, 38.86, 55.13)),
    DemoTerritory("46738000101", "Старая Коломна", "city_district", TOWN, (38.70, 55.085, 38.78, 55.13)),
    DemoTerritory("46738000102", "Колычёво", "city_district", TOWN, (38.78, 55.085, 38.86, 55.13)),
    DemoTerritory("46738000103", "Голутвин", "city_district", TOWN, (38.70, 55.04, 38.78, 55.085)),
    DemoTerritory("46738000104", "Щурово", "city_district", TOWN, (38.78, 55.04, 38.86, 55.085)),
)

ADMINISTRATION = "kolomna-administration"
LANDSCAPING = "kolomna-blagoustroystvo"
HOUSING = "kolomna-zhkh"
ROADS = "kolomna-roads"
ECOLOGY = "kolomna-ecology"
PROSECUTOR = "kolomna-prosecutor"
HOUSING_INSPECTION = "mo-gzhi"

# slug, name, kind, parent slug, territory oktmo
AUTHORITIES = (
    (ADMINISTRATION, "Администрация Городского округа Коломна", "administration", None, TOWN),
    (LANDSCAPING, "МКУ «Благоустройство Коломны»", "department", ADMINISTRATION, TOWN),
    (HOUSING, "Управление ЖКХ", "department", ADMINISTRATION, TOWN),
    (ROADS, "Управление дорожного хозяйства и транспорта", "department", ADMINISTRATION, TOWN),
    (ECOLOGY, "Отдел экологии и природопользования", "department", ADMINISTRATION, TOWN),
    (PROSECUTOR, "Коломенская городская прокуратура", "supervisory", None, TOWN),
    (HOUSING_INSPECTION, "Госжилинспекция Московской области", "supervisory", None, REGION),
)

RULES = {
    "roads.pothole": ROADS,
    "roads.signs": ROADS,
    "transport.stop": ROADS,
    "transport.route": ROADS,
    "lighting.street": LANDSCAPING,
    "waste.overflow": LANDSCAPING,
    "waste.dump": LANDSCAPING,
    "yard.playground": LANDSCAPING,
    "yard.greenery": LANDSCAPING,
    "housing.roof": HOUSING,
    "housing.entrance": HOUSING,
    "housing.heating": HOUSING,
    "ecology.air": ADMINISTRATION,
    "ecology.water": ECOLOGY,
}
"""Category code → the authority (slug) that answers for it in the town. ``volunteer.help`` (the volunteers'
map) is not an appeal to authorities and has no rule."""
EMAIL_ONLY = {ECOLOGY: "ekologia@kolomna.example"}
"""Authorities without a cabinet: their appeals go by e-mail (under ``make up``, into the local mail sink)."""
RULE_NOTE = "распределение полномочий по постановлению Администрации городского округа Коломна"

SUPERVISORS = (
    (TOWN, "*", PROSECUTOR),
    (TOWN, "housing.roof", HOUSING_INSPECTION),
    (TOWN, "housing.entrance", HOUSING_INSPECTION),
    (TOWN, "housing.heating", HOUSING_INSPECTION),
)

TEMPLATES = (
    (
        ADMINISTRATION,
        "Работы выполнены",
        "Уважаемый заявитель! Сообщаем, что по вашему обращению работы выполнены. Благодарим за неравнодушие.",
    ),
    (
        ADMINISTRATION,
        "Работы запланированы",
        "Уважаемый заявитель! Работы по вашему обращению включены в план и будут выполнены в указанный срок.",
    ),
)


async def seed(session: AsyncSession) -> None:
    """The demo town's territories, authorities, rules, supervisors and templates (upserts by fixed ids)."""
    for t in TERRITORIES:
        values = {
            "oktmo": t.oktmo,
            "name": t.name,
            "level": t.level,
            "parent_id": territory_id(t.parent) if t.parent else None,
            "timezone": "Europe/Moscow",
            "depth": 0 if t.parent is None else (1 if t.parent == REGION else 2),
            "boundary": _box(*t.box),
        }
        statement = insert(territories).values(id=territory_id(t.oktmo), **values)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[territories.c.id], set_={**values, "updated_at": func.now()}
            )
        )
    for slug, name, kind, parent, oktmo in AUTHORITIES:
        values = {
            "name": name,
            "kind": kind,
            "parent_id": authority_id(parent) if parent else None,
            "territory_id": territory_id(oktmo),
            "timezone": "Europe/Moscow",
            "channel": "email" if slug in EMAIL_ONLY else "cabinet",
            "email": EMAIL_ONLY.get(slug),
        }
        statement = insert(authorities).values(id=authority_id(slug), **values)
        await session.execute(statement.on_conflict_do_update(index_elements=[authorities.c.id], set_=values))
    for code, slug in RULES.items():
        rule = insert(jurisdiction_rules).values(
            id=uuid.uuid5(uuid.NAMESPACE_URL, f"gorod:rule:{TOWN}:{code}"),
            territory_id=territory_id(TOWN),
            category_code=code,
            authority_id=authority_id(slug),
            note=RULE_NOTE,
        )
        await session.execute(
            rule.on_conflict_do_update(
                index_elements=[jurisdiction_rules.c.id],
                set_={"authority_id": rule.excluded.authority_id, "note": rule.excluded.note},
            )
        )
    for oktmo, code, slug in SUPERVISORS:
        await session.execute(
            insert(supervisors)
            .values(
                id=uuid.uuid5(uuid.NAMESPACE_URL, f"gorod:supervisor:{oktmo}:{code}"),
                territory_id=territory_id(oktmo),
                category_code=code,
                supervisor_id=authority_id(slug),
            )
            .on_conflict_do_nothing()
        )
    for slug, title, text in TEMPLATES:
        await session.execute(
            insert(response_templates)
            .values(
                id=uuid.uuid5(uuid.NAMESPACE_URL, f"gorod:template:{slug}:{title}"),
                authority_id=authority_id(slug),
                title=title,
                text=text,
            )
            .on_conflict_do_nothing()
        )


async def load(settings: RoutingSettings) -> list[str]:
    """Load demo data; returns lines for the summary ``make up`` prints (URLs, demo accounts)."""
    from routing.usecases.officials import create_invitation

    engine = create_engine(settings, pool_size=1)
    try:
        factory = create_session_factory(engine)
        async with factory() as session, session.begin():
            await seed(session)
            bound = (
                await session.execute(
                    select(func.count())
                    .select_from(officials)
                    .where(officials.c.authority_id == authority_id(ADMINISTRATION))
                )
            ).scalar_one()
            token = None
            if not bound:
                token = await create_invitation(
                    session,
                    authority_id=authority_id(ADMINISTRATION),
                    position="Специалист по работе с обращениями граждан",
                    department_id=None,
                    invited_by=uuid.UUID(int=0),
                    days=settings.invitation_days,
                )
    finally:
        await engine.dispose()
    lines = [
        f"routing: демо-город «городской округ Коломна»: {len(TERRITORIES)} территорий, {len(AUTHORITIES)} органов",
        *(
            f"routing: «{name}» получает обращения по электронной почте ({EMAIL_ONLY[slug]})"
            for slug, name, *_ in AUTHORITIES
            if slug in EMAIL_ONLY
        ),
    ]
    if token:
        lines.append(
            "routing: войдите как official@example.org и примите приглашение в Администрацию: "
            f'POST /api/v1/cabinet/invitations/accept {{"token": "{token}"}}'
        )
    return lines


def main() -> None:
    for line in asyncio.run(load(RoutingSettings())):
        print(line)


if __name__ == "__main__":
    main()
