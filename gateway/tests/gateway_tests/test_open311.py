"""Open311 GeoReport v2 through a real gateway over the real problems and routing apps (demo catalogue and
territories), with the `georeport` client from PyPI as well as our own requests. auth's token endpoint is a
small loopback stand-in that mints client-credentials tokens the services accept (the test stack's issuer)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import xmltodict
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse
from georeport import GeoReport

from servicekit.testing.plugin import TestStack

from .conftest import GatewayFactory, Services
from .servers import serve

TOWN = "46738000"  # городской округ Коломна in the demo data


@dataclass
class Stack:
    gateway: str
    token_requests: list[str]


def token_endpoint(gorod_stack: TestStack, requests: list[str]) -> FastAPI:
    app = FastAPI()

    @app.post("/oauth2/token")
    async def token(request: Request, grant_type: str = Form()) -> JSONResponse:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        client_id, _, secret = base64.b64decode(encoded).decode().partition(":") if scheme == "Basic" else ("", "", "")
        requests.append(client_id)
        if grant_type != "client_credentials" or (client_id, secret) != ("demo-partner", "demo-partner-secret"):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        access = gorod_stack.tokens.mint(
            ["problems", "routing"],
            subject=client_id,
            roles=[],
            scopes=["open311", "problems:read", "problems:write"],
            client_id=client_id,
        )
        return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": 300})

    @app.get("/api/v1/auth/origins")
    async def origins() -> dict[str, list[str]]:
        return {"origins": []}

    return app


@pytest.fixture(scope="module")
def open311(gorod_stack: TestStack, start_gateway: GatewayFactory, services: Services) -> Iterator[Stack]:
    requests: list[str] = []
    with (
        serve(token_endpoint(gorod_stack, requests)) as auth_url,
        start_gateway(problems_url=services.problems, routing_url=services.routing, auth_url=auth_url) as gateway,
    ):
        yield Stack(gateway, requests)


def test_services_list_the_city_categories_in_json_and_xml(open311: Stack) -> None:
    client = GeoReport(f"{open311.gateway}/open311/v2", jurisdiction=TOWN)
    services = client.get_service_list()
    by_code = {service["service_code"]: service for service in services}
    assert by_code["roads.pothole"]["service_name"] == "Яма на дороге"
    assert by_code["roads.pothole"]["group"] == "Дороги и тротуары"
    assert "яма" in by_code["roads.pothole"]["keywords"]
    assert by_code["roads.pothole"]["type"] == "realtime"
    assert isinstance(by_code["roads.pothole"]["metadata"], bool)

    xml = GeoReport(f"{open311.gateway}/open311/v2", jurisdiction=TOWN, output_format="xml").get_service_list()
    assert {service["service_code"] for service in xml} == set(by_code)


def test_a_service_definition_lists_the_category_attributes(open311: Stack) -> None:
    services = GeoReport(f"{open311.gateway}/open311/v2").get_service_list()
    with_metadata = next(service for service in services if service["metadata"])
    definition = GeoReport(f"{open311.gateway}/open311/v2").get_service_definition(with_metadata["service_code"])

    assert definition["service_code"] == with_metadata["service_code"]
    assert definition["attributes"]
    for attribute in definition["attributes"]:
        assert attribute["variable"] is True
        assert attribute["datatype"] in {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
        assert {"code", "required", "order", "description", "values"} <= set(attribute)

    xml = GeoReport(f"{open311.gateway}/open311/v2", output_format="xml").get_service_definition(
        with_metadata["service_code"]
    )
    assert xml["service_code"] == with_metadata["service_code"]


def test_errors_have_the_spec_shape(open311: Stack) -> None:
    missing = httpx.get(f"{open311.gateway}/open311/v2/services/no-such-thing.json")
    assert missing.status_code == 404
    assert missing.json() == [{"code": 404, "description": "Такой услуги нет."}]

    xml = httpx.get(f"{open311.gateway}/open311/v2/requests/{uuid.uuid4()}.xml")
    assert xml.status_code == 404
    assert xmltodict.parse(xml.content)["errors"]["error"]["code"] == "404"

    bad_key = httpx.post(
        f"{open311.gateway}/open311/v2/requests.json",
        data={"api_key": "stolen", "service_code": "roads.pothole", "lat": "55.1", "long": "38.77"},
    )
    assert bad_key.status_code == 403
    assert bad_key.json()[0]["code"] == 403

    no_key = httpx.post(f"{open311.gateway}/open311/v2/requests.json", data={"service_code": "roads.pothole"})
    assert no_key.status_code == 403

    unknown_town = httpx.get(f"{open311.gateway}/open311/v2/services.json", params={"jurisdiction_id": "99999999"})
    assert unknown_town.status_code == 404
    assert unknown_town.json()[0]["code"] == 404

    bad_page = httpx.get(f"{open311.gateway}/open311/v2/requests.json", params={"page_size": "100000"})
    assert bad_page.status_code == 400
    assert bad_page.json()[0]["code"] == 400


def _post(gateway: str, fmt: str = "json", **fields: str) -> httpx.Response:
    data = {
        "api_key": "demo-open311-key",
        "jurisdiction_id": TOWN,
        "service_code": "roads.pothole",
        "lat": "55.1034",
        "long": "38.7712",
        "address_string": "Коломна, ул. Октябрьской Революции, 200",
        "description": "Глубокая яма на проезжей части у остановки\nОпасно для машин.",
        "email": "ivan@example.org",
        "first_name": "Иван",
        "last_name": "Петров",
    }
    data.update(fields)
    return httpx.post(f"{gateway}/open311/v2/requests.{fmt}", data=data)


def _attributes(gateway: str) -> dict[str, str]:
    """A value for every attribute of the pothole category, as form fields (lists with ``[]``)."""
    definition = httpx.get(f"{gateway}/open311/v2/services/roads.pothole.json").json()
    attributes = {}
    for attribute in definition["attributes"]:
        if attribute["datatype"] == "multivaluelist":
            attributes[f"attribute[{attribute['code']}][]"] = attribute["values"][0]["key"]
        elif attribute["datatype"] == "singlevaluelist":
            attributes[f"attribute[{attribute['code']}]"] = attribute["values"][0]["key"]
        elif attribute["datatype"] == "number":
            attributes[f"attribute[{attribute['code']}]"] = "3"
        else:
            attributes[f"attribute[{attribute['code']}]"] = "текст"
    return attributes


def test_a_partner_reports_with_its_api_key_and_reads_the_request_back(open311: Stack) -> None:
    created = _post(open311.gateway, **_attributes(open311.gateway))

    assert created.status_code == 200, created.text
    [answer] = created.json()
    request_id = answer["service_request_id"]
    assert answer["token"] == request_id
    assert open311.token_requests[-1] == "demo-partner"

    client = GeoReport(f"{open311.gateway}/open311/v2", jurisdiction=TOWN)
    request = client.get_service_request(request_id)
    assert request["service_request_id"] == request_id
    assert request["service_code"] == "roads.pothole"
    assert request["status"] == "open"
    assert request["status_notes"]
    assert request["lat"] == pytest.approx(55.1034)
    assert request["long"] == pytest.approx(38.7712)
    assert "expected_datetime" in request
    assert "agency_responsible" in request

    several = client.get_service_requests(service_request_id=f"{request_id},{uuid.uuid4()}")
    assert [item["service_request_id"] for item in several] == [request_id]

    token = httpx.get(f"{open311.gateway}/open311/v2/tokens/{request_id}.json")
    assert token.json() == [{"service_request_id": request_id, "token": request_id}]

    xml = GeoReport(f"{open311.gateway}/open311/v2", output_format="xml").get_service_request(request_id)
    assert xml["service_request_id"] == request_id


def test_bad_reports_are_refused_in_the_spec_shape(open311: Stack) -> None:
    no_point = httpx.post(
        f"{open311.gateway}/open311/v2/requests.json",
        data={"api_key": "demo-open311-key", "service_code": "roads.pothole", "description": "Яма"},
    )
    assert no_point.status_code == 400
    assert "lat" in no_point.json()[0]["description"]

    unknown_service = _post(open311.gateway, service_code="no-such-category")
    assert unknown_service.status_code in (400, 404)
    assert unknown_service.json()[0]["code"] == unknown_service.status_code

    xml = _post(open311.gateway, fmt="xml", lat="north")
    assert xml.status_code == 400
    assert xmltodict.parse(xml.content)["errors"]["error"]["code"] == "400"


def test_requests_are_listed_with_filters_and_pages(open311: Stack) -> None:
    first = _post(open311.gateway, **_attributes(open311.gateway))
    assert first.status_code == 200, first.text
    client = GeoReport(f"{open311.gateway}/open311/v2", jurisdiction=TOWN)

    listed = client.get_service_requests(service_code="roads.pothole")
    assert listed
    assert all(item["service_code"] == "roads.pothole" for item in listed)
    closed = client.get_service_requests(status="closed")
    assert all(item["status"] == "closed" for item in closed)

    page_one = httpx.get(f"{open311.gateway}/open311/v2/requests.json", params={"page_size": 1, "page": 1}).json()
    page_two = httpx.get(f"{open311.gateway}/open311/v2/requests.json", params={"page_size": 1, "page": 2}).json()
    assert len(page_one) == 1
    assert len(page_two) == 1
    assert page_one[0]["service_request_id"] != page_two[0]["service_request_id"]
    far = httpx.get(f"{open311.gateway}/open311/v2/requests.json", params={"page_size": 100, "page": 19}).json()
    assert far == []


def test_a_bearer_token_may_stand_in_for_the_api_key(open311: Stack, gorod_stack: TestStack) -> None:
    citizen = gorod_stack.tokens.bearer("problems", roles=["citizen"])
    fields = {
        "service_code": "roads.pothole",
        "lat": "55.1034",
        "long": "38.7712",
        "description": "Яма у школы",
        **_attributes(open311.gateway),
    }
    asked = len(open311.token_requests)
    created = httpx.post(f"{open311.gateway}/open311/v2/requests.json", data=fields, headers=citizen)

    assert created.status_code == 200, created.text
    assert len(open311.token_requests) == asked  # no partner token was needed
    request_id = created.json()[0]["service_request_id"]
    assert httpx.get(f"{open311.gateway}/open311/v2/requests/{request_id}.json").status_code == 200
