"""Loads the problems service's demo data (safe to run twice): ``python -m problems.demo``.

The two thematic maps, a Russian category tree (the codes routing's jurisdiction rules refer to), our copy of
the demo town's territories (Коломна, the same ids as routing's), and ~30 problems around Коломна, published
through the outbox like real reports (routing then turns them into appeals).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from problems.db import catalog as catalog_db
from problems.db import problems as problems_db
from problems.db import territories as territories_db
from problems.events import published
from problems.settings import ProblemsSettings
from problems.usecases.common import publish_event
from servicekit.db import create_engine, create_session_factory
from servicekit.uow import UnitOfWork


def _id(kind: str, key: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"gorod:{kind}:{key}")


def _values(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "name": name} for key, name in pairs]


MAPS: list[dict[str, Any]] = [
    {
        "code": "city",
        "name": "Городские проблемы",
        "description": "Ямы, мусор, освещение, дворы, транспорт: сообщите о проблеме — обращение уйдёт в ведомство.",
        "volunteers_only": False,
        "premoderation": False,
        "position": 0,
    },
    {
        "code": "volunteering",
        "name": "Проблемы добровольчества",
        "description": "Где нужна помощь добровольцев. Сообщать могут только добровольцы (вход через DOBRO.RU).",
        "volunteers_only": True,
        "premoderation": True,
        "position": 1,
    },
]

# (code, map, parent, name, icon, anonymous_allowed, private, radius, keywords, attributes)
CATEGORIES: list[tuple[str, str, str | None, str, str, bool, bool, int, list[str], list[dict[str, Any]]]] = [
    ("roads", "city", None, "Дороги и тротуары", "road", False, False, 250, ["дорога", "асфальт"], []),
    (
        "roads.pothole",
        "city",
        "roads",
        "Яма на дороге",
        "pothole",
        False,
        False,
        150,
        ["яма", "выбоина", "асфальт"],
        [
            {"code": "depth_cm", "datatype": "number", "required": False, "description": "Глубина ямы, см", "order": 1},
            {
                "code": "lane",
                "datatype": "singlevaluelist",
                "required": True,
                "description": "Где яма",
                "order": 2,
                "values": _values(("road", "Проезжая часть"), ("sidewalk", "Тротуар"), ("yard", "Дворовый проезд")),
            },
        ],
    ),
    (
        "roads.signs",
        "city",
        "roads",
        "Дорожные знаки и разметка",
        "sign",
        False,
        False,
        150,
        ["знак", "разметка"],
        [
            {
                "code": "sign_problem",
                "datatype": "singlevaluelist",
                "required": True,
                "description": "Что случилось",
                "order": 1,
                "values": _values(
                    ("missing", "Знака нет"), ("damaged", "Знак повреждён"), ("worn", "Стёрлась разметка")
                ),
            },
        ],
    ),
    ("lighting", "city", None, "Освещение", "light", False, False, 250, ["фонарь", "свет"], []),
    (
        "lighting.street",
        "city",
        "lighting",
        "Не горит уличное освещение",
        "streetlight",
        False,
        False,
        200,
        ["фонарь", "темно", "освещение"],
        [
            {
                "code": "lighting_type",
                "datatype": "singlevaluelist",
                "required": True,
                "description": "Тип освещения",
                "order": 1,
                "values": _values(
                    ("pole", "Фонарь на опоре"), ("facade", "Светильник на фасаде"), ("park", "Парковое освещение")
                ),
            },
            {
                "code": "lamps_count",
                "datatype": "number",
                "required": False,
                "description": "Сколько фонарей не горит",
                "order": 2,
            },
        ],
    ),
    ("waste", "city", None, "Мусор", "trash", False, False, 250, ["мусор"], []),
    (
        "waste.overflow",
        "city",
        "waste",
        "Переполнены контейнеры",
        "bin",
        False,
        False,
        100,
        ["контейнер", "переполнен", "вывоз"],
        [
            {
                "code": "container_type",
                "datatype": "singlevaluelist",
                "required": False,
                "description": "Контейнеры",
                "order": 1,
                "values": _values(
                    ("mixed", "Для смешанных отходов"),
                    ("separate", "Для раздельного сбора"),
                    ("bulky", "Для крупногабаритных отходов"),
                ),
            },
            {
                "code": "since",
                "datatype": "datetime",
                "required": False,
                "description": "С какого времени не вывозят",
                "order": 2,
            },
        ],
    ),
    (
        "waste.dump",
        "city",
        "waste",
        "Несанкционированная свалка",
        "dump",
        True,
        False,
        300,
        ["свалка"],
        [
            {
                "code": "volume_m3",
                "datatype": "number",
                "required": False,
                "description": "Примерный объём, м³",
                "order": 1,
            },
            {
                "code": "waste_kinds",
                "datatype": "multivaluelist",
                "required": False,
                "description": "Что там",
                "order": 2,
                "values": _values(
                    ("household", "Бытовой мусор"),
                    ("construction", "Строительный мусор"),
                    ("tyres", "Шины"),
                    ("branches", "Ветки и листва"),
                ),
            },
        ],
    ),
    ("housing", "city", None, "ЖКХ", "house", False, False, 100, ["дом", "управляющая компания"], []),
    (
        "housing.roof",
        "city",
        "housing",
        "Протекает крыша",
        "roof",
        False,
        False,
        50,
        ["крыша", "протечка"],
        [
            {"code": "floor", "datatype": "number", "required": False, "description": "Этаж квартиры", "order": 1},
        ],
    ),
    (
        "housing.entrance",
        "city",
        "housing",
        "Подъезд: грязь, разрушения",
        "door",
        False,
        False,
        50,
        ["подъезд", "уборка"],
        [
            {
                "code": "entrance_no",
                "datatype": "string",
                "required": False,
                "description": "Номер подъезда",
                "order": 1,
            },
        ],
    ),
    (
        "housing.heating",
        "city",
        "housing",
        "Нет отопления или горячей воды",
        "heating",
        False,
        True,
        100,
        ["отопление", "батареи", "горячая вода"],
        [
            {
                "code": "utility",
                "datatype": "singlevaluelist",
                "required": True,
                "description": "Чего нет",
                "order": 1,
                "values": _values(("heating", "Отопления"), ("hot_water", "Горячей воды")),
            },
            {"code": "apartment", "datatype": "string", "required": False, "description": "Квартира", "order": 2},
        ],
    ),
    ("yard", "city", None, "Благоустройство", "tree", False, False, 250, ["двор", "благоустройство"], []),
    (
        "yard.playground",
        "city",
        "yard",
        "Сломана детская площадка",
        "playground",
        False,
        False,
        100,
        ["площадка", "качели"],
        [],
    ),
    (
        "yard.greenery",
        "city",
        "yard",
        "Деревья и газоны",
        "greenery",
        False,
        False,
        150,
        ["дерево", "газон", "покос"],
        [
            {
                "code": "tree_problem",
                "datatype": "singlevaluelist",
                "required": False,
                "description": "Что с деревом",
                "order": 1,
                "values": _values(
                    ("dangerous", "Аварийное дерево"), ("fallen", "Упало дерево"), ("cut", "Незаконная вырубка")
                ),
            },
        ],
    ),
    ("transport", "city", None, "Общественный транспорт", "bus", False, False, 250, ["автобус", "транспорт"], []),
    ("transport.stop", "city", "transport", "Остановка", "bus-stop", False, False, 100, ["остановка", "павильон"], []),
    (
        "transport.route",
        "city",
        "transport",
        "Маршрут и расписание",
        "route",
        False,
        False,
        500,
        ["маршрут", "расписание", "интервал"],
        [
            {"code": "route_no", "datatype": "string", "required": True, "description": "Номер маршрута", "order": 1},
        ],
    ),
    ("ecology", "city", None, "Экология", "leaf", True, False, 500, ["экология"], []),
    (
        "ecology.air",
        "city",
        "ecology",
        "Загрязнение воздуха, запах",
        "smoke",
        True,
        False,
        1000,
        ["запах", "дым", "выбросы"],
        [],
    ),
    (
        "ecology.water",
        "city",
        "ecology",
        "Загрязнение водоёма",
        "water",
        True,
        False,
        500,
        ["река", "пруд", "сброс"],
        [
            {"code": "water_body", "datatype": "string", "required": False, "description": "Водоём", "order": 1},
        ],
    ),
    ("volunteer", "volunteering", None, "Добровольчество", "heart", False, False, 250, ["помощь"], []),
    (
        "volunteer.help",
        "volunteering",
        "volunteer",
        "Нужна помощь добровольцев",
        "hands",
        False,
        False,
        250,
        ["помощь", "субботник", "волонтёры"],
        [
            {
                "code": "volunteers_needed",
                "datatype": "number",
                "required": False,
                "description": "Сколько добровольцев нужно",
                "order": 1,
            },
        ],
    ),
]

TERRITORIES = (  # the same ids and boxes as routing's demo (see /tmp briefs: the demo town)
    ("46000000", "Московская область", "region", None, (35.14, 54.25, 40.21, 56.96)),
    ("46738000", "городской округ Коломна", "urban_okrug", "46000000", (38.70, 55.04, 38.86, 55.13)),
    ("46738000101", "Старая Коломна", "city_district", "46738000", (38.70, 55.085, 38.78, 55.13)),
    ("46738000102", "Колычёво", "city_district", "46738000", (38.78, 55.085, 38.86, 55.13)),
    ("46738000103", "Голутвин", "city_district", "46738000", (38.70, 55.04, 38.78, 55.085)),
    ("46738000104", "Щурово", "city_district", "46738000", (38.78, 55.04, 38.86, 55.085)),
)

RESIDENTS = ["Анна Ж.", "Сергей К.", "Ольга М.", "Дмитрий В.", "Татьяна С.", "Игорь Л."]

# (category, lon, lat, address, title, description, extra, days ago)
PROBLEMS: list[tuple[str, float, float, str, str, str, dict[str, Any], int]] = [
    (
        "roads.pothole",
        38.7795,
        55.0962,
        "ул. Октябрьской Революции, 212",
        "Глубокая яма у перекрёстка",
        "На выезде с парковки яма во всю полосу, машины объезжают по встречной.",
        {"depth_cm": 15, "lane": "road"},
        20,
    ),
    (
        "roads.pothole",
        38.7612,
        55.0887,
        "ул. Зайцева, 12",
        "Яма на тротуаре у школы",
        "Дети идут в школу по проезжей части: тротуар разбит, стоит вода.",
        {"depth_cm": 8, "lane": "sidewalk"},
        18,
    ),
    (
        "roads.pothole",
        38.8107,
        55.1012,
        "проспект Кирова, 46",
        "Провал асфальта у остановки",
        "Провал у края дороги возле остановки «Колычёво», уже повреждены колёса.",
        {"depth_cm": 25, "lane": "road"},
        3,
    ),
    (
        "roads.signs",
        38.7453,
        55.0731,
        "ул. Октябрьской Революции, 360",
        "Нет знака «Пешеходный переход»",
        "Знак сбит неделю назад, водители не снижают скорость.",
        {"sign_problem": "missing"},
        12,
    ),
    (
        "roads.signs",
        38.8231,
        55.0655,
        "ул. Ленина, 90",
        "Стёрлась разметка «зебры»",
        "Переход у рынка почти не виден, особенно вечером.",
        {"sign_problem": "worn"},
        30,
    ),
    (
        "lighting.street",
        38.7705,
        55.1035,
        "ул. Лажечникова, 5",
        "Не горят фонари в Кремле",
        "Вдоль стены не горят четыре фонаря, вечером очень темно.",
        {"lighting_type": "park", "lamps_count": 4},
        9,
    ),
    (
        "lighting.street",
        38.8341,
        55.0977,
        "ул. Гагарина, 29",
        "Темно во дворе",
        "Фонарь над подъездом не горит с осени.",
        {"lighting_type": "facade", "lamps_count": 1},
        25,
    ),
    (
        "lighting.street",
        38.7534,
        55.0612,
        "Окский проспект, 11",
        "Фонари горят днём",
        "Уже неделю освещение горит круглые сутки.",
        {"lighting_type": "pole"},
        6,
    ),
    (
        "waste.overflow",
        38.7876,
        55.0934,
        "ул. Добролюбова, 8",
        "Контейнеры не вывозят третий день",
        "Мусор лежит вокруг площадки, приходят собаки.",
        {"container_type": "mixed"},
        4,
    ),
    (
        "waste.overflow",
        38.8452,
        55.1098,
        "ул. Кирова, 62",
        "Переполнены баки для раздельного сбора",
        "Сетки для пластика переполнены, пакеты рвутся.",
        {"container_type": "separate"},
        11,
    ),
    (
        "waste.dump",
        38.7211,
        55.0521,
        "у гаражей на ул. Малышева",
        "Свалка строительного мусора",
        "За гаражами вывалили строительный мусор и старые шины.",
        {"volume_m3": 6, "waste_kinds": ["construction", "tyres"]},
        15,
    ),
    (
        "waste.dump",
        38.8512,
        55.0489,
        "берег Москвы-реки у Щурово",
        "Мусор на берегу после выходных",
        "Пакеты с мусором и бутылки вдоль берега.",
        {"waste_kinds": ["household"]},
        2,
    ),
    (
        "housing.roof",
        38.7688,
        55.0911,
        "ул. Пионерская, 23",
        "Протекает крыша в пятиэтажке",
        "После дождя вода течёт по стене в подъезде на пятом этаже.",
        {"floor": 5},
        28,
    ),
    (
        "housing.entrance",
        38.8034,
        55.0872,
        "ул. Астахова, 3",
        "В подъезде не убирают",
        "Уборки не было месяц, сломан почтовый ящик.",
        {"entrance_no": "2"},
        7,
    ),
    (
        "housing.entrance",
        38.7399,
        55.0795,
        "ул. Уманская, 18",
        "Разбито окно в подъезде",
        "На третьем этаже разбито окно, холодно.",
        {"entrance_no": "1"},
        5,
    ),
    (
        "yard.playground",
        38.7821,
        55.1054,
        "ул. Москворецкая, 4",
        "Сломаны качели",
        "У качелей оторвано сиденье, торчат болты — опасно для детей.",
        {},
        13,
    ),
    (
        "yard.playground",
        38.8278,
        55.0722,
        "ул. Ленина, 212",
        "Горка с острыми краями",
        "На горке отошёл металлический лист.",
        {},
        8,
    ),
    (
        "yard.greenery",
        38.7588,
        55.1081,
        "Советская площадь",
        "Аварийное дерево над тротуаром",
        "Старый тополь наклонился над тротуаром, ветки сухие.",
        {"tree_problem": "dangerous"},
        16,
    ),
    (
        "yard.greenery",
        38.8160,
        55.0590,
        "ул. Девичье поле, 14",
        "Газон разъезжен машинами",
        "Во дворе паркуются на газоне, всё в грязи.",
        {},
        22,
    ),
    (
        "transport.stop",
        38.7922,
        55.0981,
        "остановка «Площадь Двух революций»",
        "Нет павильона на остановке",
        "Павильон демонтировали, люди ждут под дождём.",
        {},
        19,
    ),
    (
        "transport.stop",
        38.7475,
        55.0648,
        "остановка «Голутвин»",
        "Сломана скамейка на остановке",
        "Скамейка разломана, нет урны.",
        {},
        10,
    ),
    (
        "transport.route",
        38.8389,
        55.1052,
        "Колычёво",
        "Автобус № 3 ходит раз в час",
        "Утром интервал больше часа, люди не успевают на работу.",
        {"route_no": "3"},
        14,
    ),
    (
        "ecology.air",
        38.8021,
        55.0503,
        "промзона у ул. Ленина",
        "Запах гари по вечерам",
        "Каждый вечер со стороны промзоны тянет гарью.",
        {},
        17,
    ),
    (
        "ecology.water",
        38.7341,
        55.0989,
        "устье Коломенки",
        "Масляные пятна на воде",
        "На Коломенке у моста радужные пятна.",
        {"water_body": "река Коломенка"},
        21,
    ),
    (
        "roads.pothole",
        38.7151,
        55.0877,
        "ул. Октябрьской Революции, 400",
        "Ямы на въезде в город",
        "Серия ям на въезде со стороны Москвы.",
        {"depth_cm": 12, "lane": "road"},
        26,
    ),
    (
        "lighting.street",
        38.7958,
        55.0719,
        "ул. Кирова, 10",
        "Не горит освещение на переходе",
        "Переход у поликлиники не освещён.",
        {"lighting_type": "pole", "lamps_count": 2},
        1,
    ),
    (
        "waste.overflow",
        38.7731,
        55.0822,
        "ул. Малышева, 24",
        "Мусорная площадка без навеса",
        "Крышки контейнеров сломаны, мусор разносит ветер.",
        {},
        23,
    ),
    (
        "yard.greenery",
        38.8455,
        55.0812,
        "Щурово, ул. Цементников, 7",
        "Не косят траву у дома",
        "Трава выше колена, клещи.",
        {},
        27,
    ),
    (
        "housing.entrance",
        38.8188,
        55.1119,
        "проспект Кирова, 98",
        "Не работает домофон",
        "Домофон сломан две недели, дверь открыта.",
        {"entrance_no": "4"},
        3,
    ),
    (
        "transport.stop",
        38.7644,
        55.0958,
        "остановка «Бобреневский мост»",
        "Нет расписания на остановке",
        "Табличка с расписанием сорвана.",
        {},
        6,
    ),
]


async def load_catalog(uow: UnitOfWork) -> None:
    for spec in MAPS:
        await catalog_db.upsert_map(uow.session, {"id": _id("map", spec["code"]), **spec})
    for position, (code, map_code, parent, name, icon, anonymous, private, radius, keywords, attributes) in enumerate(
        CATEGORIES
    ):
        await catalog_db.upsert_category(
            uow.session,
            {
                "id": _id("category", code),
                "map_id": _id("map", map_code),
                "code": code,
                "parent_id": _id("category", parent) if parent else None,
                "name": name,
                "icon": icon,
                "anonymous_allowed": anonymous,
                "private": private,
                "duplicate_radius_m": radius,
                "keywords": keywords,
                "attributes": attributes,
                "position": position,
            },
        )


async def load_territories(uow: UnitOfWork) -> None:
    old = datetime(2000, 1, 1, tzinfo=UTC)  # routing's own territory.changed.v1 events win over this copy
    for oktmo, name, level, parent, (west, south, east, north) in TERRITORIES:
        ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
        await territories_db.upsert_territory(
            uow.session,
            {
                "id": _id("territory", oktmo),
                "oktmo": oktmo,
                "name": name,
                "level": level,
                "parent_id": _id("territory", parent) if parent else None,
                "timezone": "Europe/Moscow",
                "changed_at": old,
            },
            {"type": "MultiPolygon", "coordinates": [[ring]]},
        )


async def load_problems(uow: UnitOfWork, settings: ProblemsSettings) -> int:
    created = 0
    now = datetime.now(UTC)
    for index, (code, lon, lat, address, title, description, extra, days_ago) in enumerate(PROBLEMS):
        problem_id = _id("demo-problem", str(index))
        if await problems_db.problem_view(uow.session, problem_id) is not None:
            continue
        category = await catalog_db.category_by_code(uow.session, code)
        territories = await problems_db.territories_covering(uow.session, lon, lat)
        at = now - timedelta(days=days_ago, hours=index % 7)
        author = _id("demo-resident", str(index % len(RESIDENTS)))
        await problems_db.insert_problem(
            uow.session,
            {
                "id": problem_id,
                "map_id": category.map_id,
                "category_id": category.id,
                "status": "published",
                "private": category.private,
                "address": address,
                "title": title,
                "description": description,
                "extra": extra,
                "author_id": author,
                "anonymous": False,
                "territory_ids": [t.id for t in territories],
                "reported_at": at,
                "published_at": at,
                "updated_at": at,
                "supports_count": 0,
            },
            lon,
            lat,
        )
        await problems_db.insert_applicant(
            uow.session, {"problem_id": problem_id, "user_id": author, "display_name": RESIDENTS[index % 6]}
        )
        for supporter in range(index % 5):
            await problems_db.add_support(uow.session, problem_id, _id("demo-supporter", f"{index}:{supporter}"))
        await problems_db.add_timeline(
            uow.session, problem_id, at=at, status="published", text_="Проблема опубликована"
        )
        row = await problems_db.problem_view(uow.session, problem_id)
        uow.record(published.reported(row))
        await publish_event(uow, row, settings)
        created += 1
    return created


async def load(settings: ProblemsSettings) -> list[str]:
    """Load demo data; returns lines for the summary ``make up`` prints (URLs, demo accounts)."""
    engine = create_engine(settings, pool_size=1)
    try:
        async with UnitOfWork(create_session_factory(engine), settings.db_schema) as uow:
            await load_catalog(uow)
            await load_territories(uow)
            created = await load_problems(uow, settings)
            await uow.commit()
    finally:
        await engine.dispose()
    base = settings.public_base_url.rstrip("/")
    return [
        f"problems: {len(MAPS)} maps, {len(CATEGORIES)} categories, {len(PROBLEMS)} demo problems in Коломна "
        f"({created} new): {base}/api/v1/problems/categories?map=city",
    ]


def main() -> None:
    for line in asyncio.run(load(ProblemsSettings())):
        print(line)


if __name__ == "__main__":
    main()
