"""Writes each app's OpenAPI document to contracts/openapi/<name>.json (`make openapi`).

tests/test_contracts.py fails when a document here differs from what the app serves, so an API change
is always visible in review as a change of its contract.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts" / "openapi"


def app_names() -> list[str]:
    return ["gateway", *sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))]


def openapi_document(name: str) -> str:
    app = importlib.import_module(f"{name}.main").create_app()
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(names: list[str]) -> None:
    """Every app, or only those named on the command line (``export_openapi.py problems``)."""
    CONTRACTS.mkdir(parents=True, exist_ok=True)
    for name in names or app_names():
        (CONTRACTS / f"{name}.json").write_text(openapi_document(name), encoding="utf-8")
        print(f"contracts/openapi/{name}.json")


if __name__ == "__main__":
    main(sys.argv[1:])
