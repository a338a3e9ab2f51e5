"""Plain-Python parts: the route table, the in-memory limiter, the merge of OpenAPI documents, Open311 XML."""

from __future__ import annotations

import xmltodict

from gateway.docs import merge
from gateway.open311.render import Open311Error, render, render_error
from gateway.proxy import has_dot_segment, new_traceparent
from gateway.ratelimit import MemoryRateLimiter
from gateway.routes import Route, RouteTable, default_routes


def test_the_longest_prefix_wins_on_whole_segments() -> None:
    table = RouteTable(default_routes())

    assert table.match("/api/v1/problems").service == "problems"  # type: ignore[union-attr]
    assert table.match("/api/v1/problems/1/comments").service == "problems"  # type: ignore[union-attr]
    assert table.match("/api/v1/problemsX") is None
    assert table.match("/api/v1/territories/resolve").service == "routing"  # type: ignore[union-attr]
    assert table.match("/oauth2/token").signin is True  # type: ignore[union-attr]
    assert table.match("/oauth2/authorize").signin is False  # type: ignore[union-attr]
    admin = table.match("/admin/v1/clients/x")
    assert admin is not None
    assert (admin.service, admin.admin, admin.audience) == ("auth", True, "auth")
    assert table.match("/") is None
    specific = RouteTable([Route("/a", "one", "one"), Route("/a/b", "two", "two")])
    assert specific.match("/a/b/c").service == "two"  # type: ignore[union-attr]
    assert specific.match("/a/bc").service == "one"  # type: ignore[union-attr]


def test_dot_segments_and_trace_ids() -> None:
    assert has_dot_segment("/api/v1/problems/../admin")
    assert has_dot_segment("/api/v1/./x")
    assert not has_dot_segment("/api/v1/problems/a..b")
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    continued = new_traceparent(incoming).split("-")
    assert continued[1] == "0af7651916cd43dd8448eb211c80319c"
    assert continued[2] != "b7ad6b7169203331"
    assert len(new_traceparent(None).split("-")[1]) == 32


async def test_the_memory_limiter_counts_per_key_and_window() -> None:
    limiter = MemoryRateLimiter()
    decisions = [await limiter.hit("ip:1", 2, 60) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert 1 <= decisions[2].retry_after <= 60
    assert (await limiter.hit("ip:2", 2, 60)).allowed
    short = [await limiter.hit("short", 1, 0.01) for _ in range(2)]
    assert not short[1].allowed
    import asyncio

    await asyncio.sleep(0.02)
    assert (await limiter.hit("short", 1, 0.01)).allowed


def test_merging_prefixes_components_and_keeps_only_the_services_own_paths() -> None:
    page = {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/X"}}}}
    ok = {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Page"}}}}}
    documents = {
        "problems": {
            "paths": {
                "/api/v1/problems": {"get": {"operationId": "list", "responses": ok}},
                "/api/v1/me": {"get": {"operationId": "steal"}},
                "/admin/v1/problems/x": {"get": {"operationId": "admin"}},
                "/health/live": {"get": {"operationId": "live"}},
            },
            "components": {"schemas": {"Page": page, "X": {"type": "string"}}},
        },
        "routing": {
            "paths": {"/api/v1/territories": {"get": {"operationId": "list", "responses": ok}}},
            "components": {"schemas": {"Page": page, "X": {"type": "integer"}}},
        },
    }
    merged = merge(documents, RouteTable(default_routes()), "/api/v1", "t")

    assert set(merged["paths"]) == {"/api/v1/problems", "/api/v1/territories"}
    schemas = merged["components"]["schemas"]
    assert {"problems.Page", "problems.X", "routing.Page", "routing.X"} <= set(schemas)
    assert schemas["routing.Page"]["properties"]["items"]["items"]["$ref"] == "#/components/schemas/routing.X"
    assert merged["paths"]["/api/v1/problems"]["get"]["operationId"] == "problems.list"
    assert merged["paths"]["/api/v1/territories"]["get"]["operationId"] == "routing.list"


def test_open311_xml_uses_the_specs_element_names() -> None:
    document = [{"service_code": "roads", "metadata": True, "keywords": "яма", "group": ""}]
    xml = xmltodict.parse(render("xml", "services", document).body)
    assert xml["services"]["service"]["service_code"] == "roads"
    assert xml["services"]["service"]["metadata"] == "true"
    definition = {"service_code": "x", "attributes": [{"code": "a", "values": [{"key": "1", "name": "Один"}]}]}
    parsed = xmltodict.parse(render("xml", "service_definition", definition).body)
    assert parsed["service_definition"]["attributes"]["attribute"]["values"]["value"]["name"] == "Один"
    error = render_error("json", Open311Error(403, "Ключ api_key недействителен."))
    assert error.status_code == 403
    assert error.body.decode() == '[{"code": 403, "description": "Ключ api_key недействителен."}]'
