"""Photo upload (checked, re-encoded, thumbnailed), serving, and removal of photos never attached."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from problems import imaging
from problems.db import problems as db
from problems.settings import ProblemsSettings
from problems.storage import PhotoStorage
from problems.usecases.common import can_see, photo_urls
from servicekit.http import idempotency
from servicekit.http.problems import ProblemError
from servicekit.security import Principal
from servicekit.uow import UnitOfWork


async def upload(
    uow: UnitOfWork,
    storage: PhotoStorage,
    settings: ProblemsSettings,
    principal: Principal,
    raw: bytes,
    *,
    key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """Check, re-encode and store a photo; returns (HTTP status, body). A retry with the same Idempotency-Key
    (and the same bytes) gets the first answer and stores nothing new."""
    if len(raw) > settings.photo_max_bytes:
        limit = settings.photo_max_bytes // (1024 * 1024)
        raise ProblemError(
            413,
            f"Фотография больше {limit} МБ.",
            title="Photo too large",
            errors=[{"field": "body.file", "message": f"Файл больше {limit} МБ."}],
        )
    try:
        processed = await asyncio.to_thread(
            imaging.process, raw, max_side=settings.photo_max_side, thumbnail_side=settings.thumbnail_side
        )
    except imaging.BadImage as error:
        raise ProblemError(
            422, str(error), title="Not a photo", errors=[{"field": "body.file", "message": str(error)}]
        ) from None
    scope = f"problems.photo:{principal.subject}"
    if key is not None:
        digest = hashlib.sha256(raw).hexdigest()
        stored = await idempotency.claim(uow.session, uow.tables, scope=scope, key=key, request_fingerprint=digest)
        if stored is not None:
            return stored.status_code, stored.body
    photo_id = uuid.uuid4()
    storage_key = f"{photo_id}.{processed.extension}"
    thumbnail_key = f"{photo_id}-thumb.jpg"
    await storage.put(storage_key, processed.data, processed.content_type)
    await storage.put(thumbnail_key, processed.thumbnail, "image/jpeg")
    await db.insert_photo(
        uow.session,
        {
            "id": photo_id,
            "owner_id": principal.subject,
            "storage_key": storage_key,
            "thumbnail_key": thumbnail_key,
            "content_type": processed.content_type,
            "width": processed.width,
            "height": processed.height,
            "size_bytes": len(processed.data),
        },
    )
    url, thumbnail_url = photo_urls(settings, photo_id)
    body = {
        "id": str(photo_id),
        "url": url,
        "thumbnail_url": thumbnail_url,
        "width": processed.width,
        "height": processed.height,
        "content_type": processed.content_type,
    }
    if key is not None:
        await idempotency.complete(uow.session, uow.tables, scope=scope, key=key, status_code=201, body=body)
    await uow.commit()
    return 201, body


async def read(
    uow: UnitOfWork, storage: PhotoStorage, photo_id: uuid.UUID, *, thumbnail: bool, principal: Principal | None
) -> tuple[bytes, str]:
    """The file of a photo of a problem the caller may see (an unattached one: its uploader only)."""
    row = await db.photo(uow.session, photo_id)
    if row is None:
        raise ProblemError(404, "Фотография не найдена.", title="Not found")
    if row.problem_id is None:
        if principal is None or principal.subject != row.owner_id:
            raise ProblemError(404, "Фотография не найдена.", title="Not found")
    else:
        problem = await db.problem_view(uow.session, row.problem_id)
        if problem is None or not can_see(principal, problem):
            raise ProblemError(404, "Фотография не найдена.", title="Not found")
    data = await storage.get(row.thumbnail_key if thumbnail else row.storage_key)
    if data is None:
        raise ProblemError(404, "Файл фотографии не найден.", title="Not found")
    return data, "image/jpeg" if thumbnail else row.content_type


def orphan_cleanup(storage: PhotoStorage, settings: ProblemsSettings):  # type: ignore[no-untyped-def]
    """A housekeeping job: delete photos not attached to a problem within ``photo_orphan_hours``."""

    async def delete_orphan_photos(session: AsyncSession) -> int:
        cutoff = datetime.now(UTC) - timedelta(hours=settings.photo_orphan_hours)
        rows = await db.orphan_photos(session, cutoff)
        for row in rows:
            await storage.delete(row.storage_key)
            await storage.delete(row.thumbnail_key)
        await db.delete_photos(session, [row.id for row in rows])
        return len(rows)

    return delete_orphan_photos
