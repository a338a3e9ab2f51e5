"""Photos: checked by content, EXIF (GPS) stripped, orientation applied, thumbnails; attached to a report;
served; the filesystem backend and the S3 backend against moto's S3 server on loopback."""

from __future__ import annotations

import io
import socket
import uuid
from collections.abc import Iterator

import httpx
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from problems.settings import ProblemsSettings
from problems.storage import S3Storage
from servicekit.app import ServiceContext

from .conftest import Report, Tokens, check_contract, jpeg_with_gps, outbox_events


async def _upload(
    client: httpx.AsyncClient, headers: dict[str, str], data: bytes, name: str = "photo.jpg"
) -> httpx.Response:
    return await client.post("/api/v1/problems/photos", files={"file": (name, data, "image/jpeg")}, headers=headers)


async def test_upload_strips_exif_and_applies_orientation(client: httpx.AsyncClient, auth: Tokens) -> None:
    headers = auth("citizen")
    raw = jpeg_with_gps((640, 480), orientation=6)  # "rotate 90° clockwise to display"
    assert b"PhoneMaker" in raw
    response = await _upload(client, headers, raw)
    assert response.status_code == 201, response.text
    photo = response.json()
    assert (photo["width"], photo["height"]) == (480, 640)
    stored = await client.get(photo["url"].removeprefix("http://127.0.0.1:8000"), headers=headers)
    assert stored.status_code == 200
    assert stored.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(stored.content))
    assert image.size == (480, 640)
    assert not image.getexif()
    assert b"PhoneMaker" not in stored.content
    thumb = await client.get(photo["thumbnail_url"].removeprefix("http://127.0.0.1:8000"), headers=headers)
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 400
    # not attached yet: only its uploader sees it
    assert (await client.get(photo["url"].removeprefix("http://127.0.0.1:8000"))).status_code == 404


async def test_upload_retry_with_idempotency_key(client: httpx.AsyncClient, auth: Tokens, kit: ServiceContext) -> None:
    headers = {**auth("citizen"), "Idempotency-Key": str(uuid.uuid4())}
    raw = jpeg_with_gps()
    first = await _upload(client, headers, raw)
    second = await _upload(client, headers, raw)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    other = await _upload(client, headers, jpeg_with_gps((320, 200)))
    assert other.status_code == 422  # the same key for other bytes


async def test_refuses_what_is_not_a_photo(client: httpx.AsyncClient, auth: Tokens, settings: ProblemsSettings) -> None:
    headers = auth("citizen")
    fake = await _upload(client, headers, b"%PDF-1.4 this is not a picture" * 10, name="photo.jpg")
    assert fake.status_code == 422
    assert fake.json()["errors"][0]["field"] == "body.file"
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    assert (await _upload(client, headers, gif.getvalue(), name="a.jpg")).status_code == 422
    broken = jpeg_with_gps()[:300]
    assert (await _upload(client, headers, broken)).status_code == 422
    huge = b"\xff\xd8" + b"0" * settings.photo_max_bytes
    assert (await _upload(client, headers, huge)).status_code == 413
    png = io.BytesIO()
    Image.new("RGBA", (50, 40), (0, 0, 255, 128)).save(png, "PNG")
    ok = await _upload(client, headers, png.getvalue(), name="x.png")
    assert ok.status_code == 201
    assert ok.json()["content_type"] == "image/png"
    assert (await _upload(client, {}, png.getvalue())).status_code == 401
    assert (await _upload(client, auth("official"), png.getvalue())).status_code == 403


async def test_photos_attach_to_a_report(
    client: httpx.AsyncClient, kit: ServiceContext, auth: Tokens, report: Report
) -> None:
    user = auth("citizen")
    ids = [(await _upload(client, user, jpeg_with_gps())).json()["id"] for _ in range(2)]
    problem, _ = await report(headers=user, photo_ids=ids)
    assert [p["id"] for p in problem["photos"]] == ids
    public = await client.get(problem["photos"][0]["url"].removeprefix("http://127.0.0.1:8000"))
    assert public.status_code == 200  # public with its problem now
    published = (await outbox_events(kit, problem["id"]))[1]
    check_contract(published)
    assert published["data"]["photos"] == [p["url"] for p in problem["photos"]]

    # attached already, or somebody else's: refused
    again = await client.post("/api/v1/problems", json={**_min_report(), "photo_ids": ids[:1]}, headers=user)
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "body.photo_ids"
    foreign = (await _upload(client, auth("citizen"), jpeg_with_gps())).json()["id"]
    stolen = await client.post("/api/v1/problems", json={**_min_report(), "photo_ids": [foreign]}, headers=user)
    assert stolen.status_code == 422
    six = await client.post(
        "/api/v1/problems", json={**_min_report(), "photo_ids": [str(uuid.uuid4()) for _ in range(6)]}, headers=user
    )
    assert six.status_code == 422
    assert six.json()["errors"][0]["field"] == "body.photo_ids"


def _min_report() -> dict[str, object]:
    return {
        "category": "yard.playground",
        "point": {"lon": 38.78, "lat": 55.1},
        "title": "Сломаны качели",
    }


async def test_orphan_photos_are_deleted(kit: ServiceContext, client: httpx.AsyncClient, auth: Tokens, app) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from problems.usecases.photos import orphan_cleanup

    user = auth("citizen")
    photo = (await _upload(client, user, jpeg_with_gps())).json()
    path = photo["url"].removeprefix("http://127.0.0.1:8000")
    async with kit.session_factory() as session, session.begin():
        await session.execute(
            text("UPDATE problems.photos SET created_at = now() - interval '25 hours' WHERE id = :id"),
            {"id": photo["id"]},
        )
    job = orphan_cleanup(app.state.photo_storage, app.state.kit.settings)
    async with kit.session_factory() as session, session.begin():
        removed = await job(session)
    assert removed >= 1
    assert (await client.get(path, headers=user)).status_code == 404


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


async def test_s3_backend_round_trip(s3_server: str) -> None:
    storage = S3Storage(
        bucket="gorod-test", endpoint_url=s3_server, region="us-east-1", access_key_id="test", secret_access_key="test"
    )
    await storage.ensure_bucket()
    await storage.ensure_bucket()  # idempotent
    key = f"{uuid.uuid4()}.jpg"
    await storage.put(key, b"jpeg bytes", "image/jpeg")
    assert await storage.get(key) == b"jpeg bytes"
    await storage.delete(key)
    assert await storage.get(key) is None
    with pytest.raises(ValueError, match="bad storage key"):
        await storage.put("../../etc/passwd", b"x", "text/plain")


async def test_service_serves_photos_from_s3(s3_server: str, gorod_stack: object) -> None:
    from problems.main import create_app

    settings = ProblemsSettings(
        photo_storage="s3",
        s3_endpoint_url=s3_server,
        s3_bucket="gorod-service",
        s3_access_key_id="test",
        s3_secret_access_key="test",
        s3_create_bucket=True,
    )
    app = create_app(settings)
    tokens = Tokens(gorod_stack)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        user = tokens("citizen")
        photo = (await _upload(client, user, jpeg_with_gps())).json()
        served = await client.get(photo["url"].removeprefix("http://127.0.0.1:8000"), headers=user)
        assert served.status_code == 200
        assert not Image.open(io.BytesIO(served.content)).getexif()
        storage = app.state.photo_storage
        assert isinstance(storage, S3Storage)
        assert await storage.get(f"{photo['id']}-thumb.jpg") is not None
