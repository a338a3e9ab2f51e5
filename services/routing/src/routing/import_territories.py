"""Import territory boundaries from GeoJSON: ``python -m routing.import_territories file.geojson``.

Reads a FeatureCollection (e.g. an OSM boundaries export) whose features carry an OKTMO code (``oktmo``,
``OKTMO`` or ``ref:OKTMO``), a ``name``, and a level (``level``, or OSM ``admin_level`` 4/6/8/9), optionally
``parent_oktmo`` and ``timezone``. Parents come first (from ``parent_oktmo``, else from the OKTMO code itself).
An invalid geometry is repaired with ``ST_MakeValid`` (or, with ``--no-repair``, rejected), and a feature that
cannot be made a polygon is rejected by name. Everything is imported in ONE transaction: all or nothing.
Each imported territory publishes ``routing.territory.changed.v1``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from tqdm import tqdm

from routing.db.tables import territories
from routing.settings import RoutingSettings
from routing.usecases.admin import save_territory
from servicekit.db import create_engine, create_session_factory
from servicekit.http.problems import ProblemError
from servicekit.uow import UnitOfWork

ADMIN_LEVELS = {"4": "region", "6": "municipal_district", "8": "settlement", "9": "city_district"}


class ImportRejected(Exception):
    pass


@dataclass(frozen=True)
class Feature:
    index: int
    oktmo: str
    name: str
    level: str
    parent_oktmo: str | None
    timezone: str
    geometry: dict[str, Any]

    @property
    def label(self) -> str:
        return f"объект №{self.index + 1} «{self.name}» (ОКТМО {self.oktmo})"


def implied_parent(oktmo: str) -> str | None:
    """The parent's OKTMO as the code's structure implies it: settlement → municipality → region."""
    if len(oktmo) == 11:
        return oktmo[:8]
    if len(oktmo) == 8 and oktmo[5:] != "000":
        return oktmo[:5] + "000"
    if len(oktmo) == 8 and oktmo[2:5] != "000":
        return oktmo[:2] + "000000"
    return None


def parse(collection: dict[str, Any], default_timezone: str) -> list[Feature]:
    if collection.get("type") != "FeatureCollection":
        raise ImportRejected("Файл должен содержать GeoJSON FeatureCollection.")
    features = []
    for index, raw in enumerate(collection.get("features") or []):
        props = raw.get("properties") or {}
        name = str(props.get("name") or props.get("name:ru") or "").strip()
        oktmo = str(props.get("oktmo") or props.get("OKTMO") or props.get("ref:OKTMO") or "").strip()
        label = f"объект №{index + 1} «{name or 'без названия'}»"
        if not name or not oktmo.isdigit() or len(oktmo) not in (8, 11):
            raise ImportRejected(f"{label}: нужны name и ОКТМО из 8 или 11 цифр.")
        level = props.get("level") or ADMIN_LEVELS.get(str(props.get("admin_level", "")))
        if level not in ("region", "municipal_district", "city_district", "urban_okrug", "settlement"):
            raise ImportRejected(
                f"{label}: неизвестный уровень территории ({props.get('level') or props.get('admin_level')})."
            )
        geometry = raw.get("geometry")
        if not geometry or geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise ImportRejected(f"{label}: граница должна быть Polygon или MultiPolygon.")
        parent = props.get("parent_oktmo")
        features.append(
            Feature(
                index,
                oktmo,
                name,
                level,
                str(parent) if parent else implied_parent(oktmo),
                str(props.get("timezone") or default_timezone),
                geometry,
            )
        )
    if not features:
        raise ImportRejected("В файле нет объектов.")
    return features


def parents_first(features: list[Feature]) -> list[Feature]:
    by_code = {f.oktmo: f for f in features}
    ordered: list[Feature] = []
    seen: set[str] = set()

    def visit(feature: Feature, path: tuple[str, ...]) -> None:
        if feature.oktmo in seen:
            return
        if feature.oktmo in path:
            raise ImportRejected(f"{feature.label}: циклическая ссылка на родителя.")
        parent = by_code.get(feature.parent_oktmo or "")
        if parent is not None:
            visit(parent, (*path, feature.oktmo))
        seen.add(feature.oktmo)
        ordered.append(feature)

    for feature in features:
        visit(feature, ())
    return ordered


async def import_features(
    uow: UnitOfWork, features: list[Feature], *, repair: bool, progress: bool = True
) -> dict[str, int]:
    """Import inside ``uow`` (the caller commits); raises :class:`ImportRejected` naming the bad feature."""
    counts = {"imported": 0, "repaired": 0}
    ids: dict[str, Any] = {}
    for feature in tqdm(parents_first(features), desc="территории", unit="шт", disable=not progress):
        check = (
            await uow.session.execute(
                text(
                    "SELECT ST_IsValid(g) AS valid, ST_IsValidReason(g) AS why FROM "
                    "(SELECT ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326) AS g) s"
                ),
                {"g": json.dumps(feature.geometry)},
            )
        ).one()
        if not check.valid:
            if not repair:
                raise ImportRejected(f"{feature.label}: неверная геометрия ({check.why}).")
            counts["repaired"] += 1
        parent_id = None
        if feature.parent_oktmo:
            parent_id = ids.get(feature.parent_oktmo)
            if parent_id is None:
                found = (
                    await uow.session.execute(
                        select(territories.c.id).where(territories.c.oktmo == feature.parent_oktmo)
                    )
                ).first()
                parent_id = found[0] if found else None
        existing = (
            await uow.session.execute(select(territories.c.id).where(territories.c.oktmo == feature.oktmo))
        ).first()
        try:
            ids[feature.oktmo] = await save_territory(
                uow,
                territory_id=existing[0] if existing else None,
                oktmo=feature.oktmo,
                name=feature.name,
                level=feature.level,
                parent_id=parent_id,
                timezone=feature.timezone,
                boundary=feature.geometry,
            )
        except ProblemError as error:
            raise ImportRejected(f"{feature.label}: {error.detail}") from error
        counts["imported"] += 1
    return counts


async def run(path: Path, *, repair: bool, timezone: str, settings: RoutingSettings | None = None) -> dict[str, int]:
    settings = settings or RoutingSettings()
    features = parse(json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8")), timezone)
    engine = create_engine(settings, pool_size=1)
    try:
        async with UnitOfWork(create_session_factory(engine), settings.db_schema) as uow:
            counts = await import_features(uow, features, repair=repair)
            await uow.commit()
    finally:
        await engine.dispose()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Импорт границ территорий из GeoJSON (всё или ничего).")
    parser.add_argument("file", type=Path)
    parser.add_argument("--no-repair", action="store_true", help="отклонять неверную геометрию, а не исправлять")
    parser.add_argument("--timezone", default="Europe/Moscow", help="часовой пояс по умолчанию")
    args = parser.parse_args(argv)
    try:
        counts = asyncio.run(run(args.file, repair=not args.no_repair, timezone=args.timezone))
    except ImportRejected as error:
        print(f"Импорт отменён, ничего не сохранено: {error}", file=sys.stderr)
        return 1
    print(f"Импортировано территорий: {counts['imported']}, исправлено геометрий: {counts['repaired']}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
