"""Open311 GeoReport v2 at ``/open311/v2/``, JSON or XML, over the problems API.

Who may call: reading (services, service definitions, requests, tokens) is open to anyone, as the problems
themselves are public. Creating a request needs ``api_key`` (a key an operator issued to a partner system) or
a bearer token for the audience ``problems``; the problems API then decides (scope ``problems:write``).

Mapping: a service is a category of the city map (``group`` = its parent category's name, ``keywords``,
``metadata`` = it has attributes; the definition lists the category's attributes). A service request is a
problem: ``status`` is ``closed`` for solved, not_solved, rejected, withdrawn and merged problems, ``open``
otherwise; ``status_notes`` the Russian status name (and the latest official answer);
``agency_responsible`` the authority; ``expected_datetime`` the 59-FZ answer deadline. ``jurisdiction_id`` is a
territory's OKTMO code (resolved by routing). The POST answer carries the id at once, so the ``token`` is the
id too, and ``tokens/{token}`` resolves it. ``page`` and ``page_size`` (at most 100) page through requests,
newest first.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from gateway.open311.render import Open311Error, render, render_error
from gateway.open311.upstream import Upstream, problem_text

router = APIRouter(prefix="/open311/v2", tags=["open311"])

Fmt = Annotated[str, Path(description="Response format: `json` or `xml`.")]
CLOSED = frozenset({"solved", "not_solved", "rejected", "withdrawn", "merged"})
OPEN_STATUSES = ("published", "sent", "registered", "in_work", "answered", "forwarded")
MAX_PAGE_SIZE = 100
MAX_DEPTH = 2000
"""``page * page_size`` at most: deeper pages are refused (the API is cursor-paginated underneath)."""
_ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_.\-]{1,64})\](\[\])?$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _upstream(request: Request) -> Upstream:
    upstream: Upstream | None = getattr(request.app.state, "open311", None)
    if upstream is None:
        raise Open311Error(503, "Шлюз запускается. Попробуйте позже.")
    return upstream


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _categories(upstream: Upstream) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(20):
        params = {"map": upstream.settings.open311_default_map, "limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = await upstream.get_json("problems", "/api/v1/problems/categories", params=params)
        items += page.get("items", [])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return items


def _service(category: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {
        "service_code": category["code"],
        "service_name": category["name"],
        "description": category.get("description") or category["name"],
        "metadata": bool(category.get("attributes")),
        "type": "realtime",
        "keywords": ", ".join(category.get("keywords") or []),
        "group": names.get(category.get("parent_code") or "", ""),
    }


async def _territory_id(upstream: Upstream, oktmo: str | None) -> str | None:
    if not oktmo:
        return None
    if not re.fullmatch(r"\d{8}(\d{3})?", oktmo):
        raise Open311Error(400, "jurisdiction_id — код ОКТМО из 8 или 11 цифр.")
    page = await upstream.get_json("routing", "/api/v1/territories", params={"oktmo": oktmo, "limit": 1})
    items = page.get("items", [])
    if not items:
        raise Open311Error(404, f"Территория с ОКТМО {oktmo} не найдена.")
    return str(items[0]["id"])


def _request(problem: dict[str, Any]) -> dict[str, Any]:
    status = problem.get("status", "")
    notes = problem.get("status_name", "")
    answers = problem.get("answers") or []
    if answers and answers[-1].get("text"):
        notes = f"{notes}. {answers[-1]['text']}"
    photos = problem.get("photos") or []
    authority = problem.get("authority") or {}
    point = problem.get("point") or {}
    return {
        "service_request_id": str(problem["id"]),
        "status": "closed" if status in CLOSED or problem.get("open") is False else "open",
        "status_notes": notes,
        "service_name": problem.get("category_name", ""),
        "service_code": problem.get("category_code", ""),
        "description": problem.get("description") or problem.get("title", ""),
        "agency_responsible": authority.get("name", ""),
        "service_notice": "",
        "requested_datetime": problem.get("reported_at"),
        "updated_datetime": problem.get("updated_at"),
        "expected_datetime": problem.get("answer_due_at"),
        "address": problem.get("address", ""),
        "address_id": "",
        "zipcode": "",
        "lat": point.get("lat"),
        "long": point.get("lon"),
        "media_url": photos[0].get("url", "") if photos else "",
    }


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise Open311Error(400, f"{name} — целое число.") from None
    if not low <= number <= high:
        raise Open311Error(400, f"{name} — от {low} до {high}.")
    return number


@router.get("/services.{fmt}", summary="Services: the city map's categories (anyone)")
async def services(request: Request, fmt: Fmt) -> Response:
    """Anyone may call. ``jurisdiction_id`` (OKTMO), when given, must be a known territory."""
    if fmt not in ("json", "xml"):
        return render_error("json", Open311Error(404, "Формат ответа — json или xml."))
    try:
        upstream = _upstream(request)
        await _territory_id(upstream, request.query_params.get("jurisdiction_id"))
        categories = await _categories(upstream)
    except Open311Error as error:
        return render_error(fmt, error)
    names = {category["code"]: category["name"] for category in categories}
    return render(fmt, "services", [_service(category, names) for category in categories])


@router.get("/services/{service_code}.{fmt}", summary="A service's definition: its attributes (anyone)")
async def service_definition(request: Request, service_code: str, fmt: Fmt) -> Response:
    """Anyone may call."""
    if fmt not in ("json", "xml"):
        return render_error("json", Open311Error(404, "Формат ответа — json или xml."))
    try:
        upstream = _upstream(request)
        if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", service_code):
            raise Open311Error(404, "Такой услуги нет.")
        try:
            category = await upstream.get_json("problems", f"/api/v1/problems/categories/{service_code}")
        except Open311Error as error:
            raise Open311Error(404, "Такой услуги нет.") if error.status in (400, 404) else error from None
        if category.get("map_code") != upstream.settings.open311_default_map:
            raise Open311Error(404, "Такой услуги нет.")
    except Open311Error as error:
        return render_error(fmt, error)
    attributes = [
        {
            "variable": True,
            "code": attribute["code"],
            "datatype": attribute["datatype"],
            "required": bool(attribute.get("required")),
            "datatype_description": "",
            "order": attribute.get("order", index + 1),
            "description": attribute.get("description", ""),
            "values": [{"key": v["key"], "name": v["name"]} for v in attribute.get("values") or []],
        }
        for index, attribute in enumerate(category.get("attributes") or [])
    ]
    return render(fmt, "service_definition", {"service_code": category["code"], "attributes": attributes})


@router.post("/requests.{fmt}", summary="Create a service request: report a problem (api_key or bearer token)")
async def create_request(request: Request, fmt: Fmt) -> Response:
    """A partner with an ``api_key`` (or a bearer token for ``problems``) reports a problem. Form fields as in
    GeoReport v2, attributes as ``attribute[code]`` or ``attribute[code][]``. No key: 403."""
    if fmt not in ("json", "xml"):
        return render_error("json", Open311Error(404, "Формат ответа — json или xml."))
    try:
        upstream = _upstream(request)
        form = await request.form()
        fields = {key: value for key, value in form.multi_items() if isinstance(value, str)}
        api_key = fields.get("api_key") or request.query_params.get("api_key")
        token = _bearer(request)
        if token is None:
            if not api_key:
                raise Open311Error(403, "Нужен ключ api_key партнёра или токен доступа.")
            token = await upstream.partner_token(api_key)
        body = _report(form.multi_items(), fields, upstream.settings.open311_default_map)
        await _territory_id(upstream, fields.get("jurisdiction_id"))
        try:
            category = await upstream.get_json("problems", f"/api/v1/problems/categories/{body['category']}")
        except Open311Error as error:
            raise Open311Error(404, "Такой услуги нет.") if error.status in (400, 404) else error from None
        body["extra"] = _typed(body["extra"], category.get("attributes") or [])
        response = await upstream.call("POST", "problems", "/api/v1/problems", token=token, json=body)
        if response.status_code in (401, 403):
            raise Open311Error(403, problem_text(response))
        if response.status_code == 422 or response.status_code == 400:
            raise Open311Error(400, problem_text(response))
        if response.status_code == 404:
            raise Open311Error(404, problem_text(response))
        if response.status_code == 429:
            raise Open311Error(429, "Слишком много заявок. Попробуйте чуть позже.")
        if response.status_code != 201:
            raise Open311Error(503, "Сервис временно недоступен. Попробуйте позже.")
        problem = response.json()
    except Open311Error as error:
        return render_error(fmt, error)
    notice = "Проблема принята." if problem.get("status") != "moderation" else "Проблема принята и ждёт модерации."
    created = {
        "service_request_id": str(problem["id"]),
        "token": str(problem["id"]),
        "service_notice": notice,
        "account_id": None,
    }
    return render(fmt, "service_requests", [created])


def _report(items: list[tuple[str, Any]], fields: dict[str, str], map_code: str) -> dict[str, Any]:
    service_code = fields.get("service_code")
    if not service_code:
        raise Open311Error(400, "Не указан service_code.")
    try:
        lat, lon = float(fields["lat"]), float(fields["long"])
    except KeyError:
        raise Open311Error(400, "Укажите координаты lat и long: адрес без координат пока не принимается.") from None
    except ValueError:
        raise Open311Error(400, "lat и long — числа.") from None
    extra: dict[str, Any] = {}
    for key, value in items:
        match = _ATTRIBUTE.match(key)
        if match is None or not isinstance(value, str):
            continue
        if match.group(2):
            extra.setdefault(match.group(1), [])
            if isinstance(extra[match.group(1)], list):
                extra[match.group(1)].append(value)
        else:
            extra[match.group(1)] = value
    description = (fields.get("description") or "").strip()
    first_line = description.splitlines()[0] if description else ""
    title = first_line[:120] if len(first_line) >= 3 else "Сообщение через Open311"
    body: dict[str, Any] = {
        "map": map_code,
        "category": service_code,
        "point": {"lon": lon, "lat": lat},
        "address": (fields.get("address_string") or "")[:500],
        "title": title,
        "description": description,
        "extra": extra,
    }
    name = " ".join(part for part in (fields.get("first_name"), fields.get("last_name")) if part).strip()
    if fields.get("email") and name:
        body["applicant"] = {"full_name": name[:200], "email": fields["email"]}
    return body


def _typed(extra: dict[str, Any], attributes: list[dict[str, Any]]) -> dict[str, Any]:
    """Form values are strings: give each attribute its datatype (numbers, lists) as the problems API wants."""
    datatypes = {attribute["code"]: attribute.get("datatype") for attribute in attributes}
    typed: dict[str, Any] = {}
    for code, value in extra.items():
        datatype = datatypes.get(code)
        if datatype == "multivaluelist":
            typed[code] = value if isinstance(value, list) else [value]
            continue
        if isinstance(value, list):
            value = value[0] if value else ""
        if datatype == "number":
            try:
                number = float(value.replace(",", "."))
            except ValueError:
                raise Open311Error(400, f"attribute[{code}] — число.") from None
            typed[code] = int(number) if number.is_integer() else number
        else:
            typed[code] = value
    return typed


@router.get("/requests.{fmt}", summary="Service requests: problems, with the spec's filters (anyone)")
async def list_requests(request: Request, fmt: Fmt) -> Response:
    """Anyone may call. Filters: ``service_request_id`` (comma-separated; overrides the others),
    ``service_code``, ``start_date``, ``end_date``, ``status`` (open, closed), ``jurisdiction_id``; and the
    extension ``page`` (from 1), ``page_size`` (1–100, default 50)."""
    query = request.query_params
    if fmt not in ("json", "xml"):
        return render_error("json", Open311Error(404, "Формат ответа — json или xml."))
    try:
        upstream = _upstream(request)
        token = _bearer(request)
        ids = [part.strip() for part in (query.get("service_request_id") or "").split(",") if part.strip()]
        if ids:
            if len(ids) > MAX_PAGE_SIZE:
                raise Open311Error(400, f"Не больше {MAX_PAGE_SIZE} service_request_id за раз.")
            found = []
            for problem_id in ids:
                if _UUID.match(problem_id):
                    try:
                        found.append(await upstream.get_json("problems", f"/api/v1/problems/{problem_id}", token=token))
                    except Open311Error as error:
                        if error.status != 404:
                            raise
            return render(fmt, "service_requests", [_request(problem) for problem in found])
        page = _int(query.get("page"), "page", 1, 1, 1000)
        page_size = _int(query.get("page_size"), "page_size", 50, 1, MAX_PAGE_SIZE)
        if page * page_size > MAX_DEPTH:
            raise Open311Error(400, f"Слишком далёкая страница: page × page_size не больше {MAX_DEPTH}.")
        params: dict[str, Any] = {"map": upstream.settings.open311_default_map, "limit": page_size, "sort": "new"}
        if query.get("service_code"):
            params["category"] = query["service_code"].split(",")[0].strip()
        for ours, theirs in (("start_date", "from"), ("end_date", "to")):
            if query.get(ours):
                params[theirs] = query[ours]
        statuses = {part.strip() for part in (query.get("status") or "").split(",") if part.strip()}
        if statuses - {"open", "closed"}:
            raise Open311Error(400, "status — open или closed.")
        if statuses == {"open"}:
            params["status"] = ",".join(OPEN_STATUSES)
        elif statuses == {"closed"}:
            params["status"] = ",".join(sorted(CLOSED))
        territory = await _territory_id(upstream, query.get("jurisdiction_id"))
        if territory:
            params["territory"] = territory
        items: list[dict[str, Any]] = []
        for number in range(1, page + 1):
            result = await upstream.get_json("problems", "/api/v1/problems", token=token, params=params)
            items = result.get("items", [])
            if not result.get("next_cursor"):
                if number < page:
                    items = []  # the asked page is past the end
                break
            params["cursor"] = result["next_cursor"]
    except Open311Error as error:
        return render_error(fmt, error)
    return render(fmt, "service_requests", [_request(problem) for problem in items])


@router.get("/requests/{service_request_id}.{fmt}", summary="One service request (anyone)")
async def get_request(request: Request, service_request_id: str, fmt: Fmt) -> Response:
    """Anyone may call (a private problem only with a token that may see it)."""
    if fmt not in ("json", "xml"):
        return render_error("json", Open311Error(404, "Формат ответа — json или xml."))
    try:
        upstream = _upstream(request)
        if not _UUID.match(service_request_id):
            raise Open311Error(404, "Заявка не найдена.")
        try:
            problem = await upstream.get_json(
                "problems", f"/api/v1/problems/{service_request_id}", token=_bearer(request)
            )
        except Open311Error as error:
            raise Open311Error(404, "Заявка не найдена.") if error.status in (400, 404) else error from None
    except Open311Error as error:
        return render_error(fmt, error)
    return render(fmt, "service_requests", [_request(problem)])


@router.get("/tokens/{token}.{fmt}", summary="The request a token stands for (anyone)")
async def get_token(request: Request, token: str, fmt: Fmt) -> Response:
    """Anyone may call. Requests are created at once, so a token is the request's id."""
    if fmt not in ("json", "xml"):
        return render_error("json", Open311Error(404, "Формат ответа — json или xml."))
    try:
        upstream = _upstream(request)
        if not _UUID.match(token):
            raise Open311Error(404, "Токен не найден.")
        try:
            problem = await upstream.get_json("problems", f"/api/v1/problems/{token}", token=_bearer(request))
        except Open311Error as error:
            raise Open311Error(404, "Токен не найден.") if error.status in (400, 404) else error from None
    except Open311Error as error:
        return render_error(fmt, error)
    return render(fmt, "service_requests", [{"service_request_id": str(problem["id"]), "token": token}])
