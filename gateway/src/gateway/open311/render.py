"""GeoReport v2 documents in JSON or XML, and its error shape ``[{"code": …, "description": …}]``."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from fastapi.responses import Response

# The element name of one item inside each XML list element.
_ITEM = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
}


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _element(tag: str, value: Any) -> ET.Element:
    element = ET.Element(tag)
    if isinstance(value, dict):
        for key, item in value.items():
            element.append(_element(key, item))
    elif isinstance(value, list):
        child = _ITEM.get(tag, "item")
        for item in value:
            element.append(_element(child, item))
    else:
        element.text = _text(value)
    return element


def render(fmt: str, root: str, document: Any, status: int = 200) -> Response:
    """``document`` as JSON, or as XML under the element ``root`` (a list's items get the spec's names)."""
    if fmt == "xml":
        body = ET.tostring(_element(root, document), encoding="utf-8", xml_declaration=True)
        return Response(body, status_code=status, media_type="text/xml; charset=utf-8")
    return Response(
        json.dumps(document, ensure_ascii=False).encode(), status_code=status, media_type="application/json"
    )


def render_error(fmt: str, error: Open311Error) -> Response:
    return render(fmt, "errors", [{"code": error.status, "description": error.description}], status=error.status)
