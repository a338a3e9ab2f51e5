"""The event contracts in contracts/events: well-formed JSON Schemas, named as their routing keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = sorted((ROOT / "contracts" / "events").glob("*/*.json"))
SERVICES = {p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml")}
NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[1-9][0-9]*\.json$")


@pytest.mark.parametrize("path", CONTRACTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_event_schema_is_valid_and_named_by_its_routing_key(path: Path) -> None:
    assert path.parent.name in SERVICES, f"{path}: events live under the folder of the service that publishes them"
    assert NAME.match(path.name), f"{path.name}: want <entity>.<verb>.v<N>.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema).check_schema(schema)
    assert schema.get("type") == "object", f"{path.name}: an event's data is an object"
    assert schema.get("required"), f"{path.name}: say which fields a consumer can rely on"
