"""The registered web origins: ``GET /api/v1/auth/origins``, read by the gateway for its CORS allow-list.

Who may call: anyone (no token): the list is what any browser learns anyway from the CORS answers of the
registered sites, and it holds no personal data. Only active ``web`` and ``widget`` clients count.

The gateway has no database, so it polls this endpoint (every ``GATEWAY_CORS_REFRESH_INTERVAL`` seconds) and a
site an operator registers works without a gateway restart.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from servicekit.app import service_context

router = APIRouter(prefix="/api/v1/auth", tags=["origins"])

# Plain SQL on the service's own schema: the API layer does not import the table definitions.
_ORIGINS = text(
    "SELECT DISTINCT origin FROM oauth_clients, unnest(allowed_origins) AS origin "
    "WHERE disabled_at IS NULL AND kind IN ('web', 'widget') ORDER BY origin"
)


class Origins(BaseModel):
    origins: list[str] = Field(description="`scheme://host[:port]` of every active web and widget client.")


@router.get("/origins", summary="Registered web origins (anyone may call)")
async def registered_origins(request: Request, response: Response) -> Origins:
    """Every origin an active web or widget client is registered with; the gateway's CORS allow-list."""
    async with service_context(request).session_factory() as session:
        rows = (await session.execute(_ORIGINS)).scalars().all()
    response.headers["Cache-Control"] = "public, max-age=30"
    return Origins(origins=list(rows))
