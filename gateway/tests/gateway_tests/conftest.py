"""Fixtures of the gateway's tests: a real upstream HTTP server on loopback and gateways started in front of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from gateway.main import create_app
from gateway.settings import SERVICES, GatewaySettings
from servicekit.testing.plugin import TestStack

from .servers import free_port, serve

ORIGINS = ["https://widget.example.org", "http://127.0.0.1:8000"]


def upstream_app() -> FastAPI:
    """A tiny service stand-in that tells what it received."""
    app = FastAPI()
    app.state.origins = list(ORIGINS)
    app.state.hits = 0

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"], include_in_schema=False)
    async def echo(path: str, request: Request) -> Response:
        if path == "api/v1/auth/origins":
            return JSONResponse({"origins": app.state.origins})
        app.state.hits += 1
        if path.endswith("/slow"):
            await asyncio.sleep(float(request.query_params.get("s", "3")))
        if path.endswith("/stream"):

            async def chunks() -> AsyncIterator[bytes]:
                for index in range(5):
                    yield f"chunk-{index};".encode()
                    await asyncio.sleep(0.05)

            return StreamingResponse(chunks(), media_type="text/plain")
        if path.endswith("/hop"):
            return Response(
                "ok", headers={"Connection": "close, X-Secret-Hop", "X-Secret-Hop": "1", "Keep-Alive": "timeout=5"}
            )
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "raw_path": request.scope["raw_path"].decode(),
                "query": request.url.query,
                "headers": [[name, value] for name, value in request.headers.items()],
                "body_length": len(body),
            },
            headers={"X-Upstream": "yes"},
        )

    return app


@pytest.fixture(scope="session")
def upstream() -> Iterator[tuple[str, FastAPI]]:
    app = upstream_app()
    with serve(app) as url:
        yield url, app


GatewayFactory = Callable[..., AbstractContextManager[str]]


@pytest.fixture(scope="session")
def start_gateway(gorod_stack: TestStack, upstream: tuple[str, FastAPI]) -> GatewayFactory:
    """Start a gateway (a real uvicorn server) whose services all answer at the upstream stand-in."""
    url, _ = upstream

    @contextmanager
    def start(**overrides: Any) -> Iterator[str]:
        values: dict[str, Any] = {f"{name}_url": url for name in SERVICES}
        values.update(log_json=False, cors_refresh_interval=0.2)
        values.update(overrides)
        settings = GatewaySettings(**values)  # JWKS URL and issuer: the test stack's, from the environment
        # No proxy is trusted in front of these gateways: a client's X-Forwarded-For must not count.
        with serve(create_app(settings), proxy_headers=False) as gateway_url:
            yield gateway_url

    return start


@pytest.fixture(scope="session")
def gateway(start_gateway: GatewayFactory) -> Iterator[str]:
    with start_gateway(routing_url=f"http://127.0.0.1:{free_port()}", upstream_timeout=1.0) as url:
        yield url


@dataclass(frozen=True)
class Services:
    auth: str
    problems: str
    routing: str


@pytest.fixture(scope="session")
def services(gorod_stack: TestStack) -> Iterator[Services]:
    """The real auth, problems and routing apps on loopback, with the demo catalogue and territories."""
    from auth.main import create_app as auth_app
    from auth.settings import AuthSettings
    from problems import demo as problems_demo
    from problems.main import create_app as problems_app
    from problems.settings import ProblemsSettings
    from routing import demo as routing_demo
    from routing.main import create_app as routing_app
    from routing.settings import RoutingSettings

    problems_settings, routing_settings = ProblemsSettings(), RoutingSettings()

    async def load() -> None:
        await problems_demo.load(problems_settings)
        await routing_demo.load(routing_settings)

    asyncio.run(load())
    with (
        serve(auth_app(AuthSettings())) as auth_url,
        serve(problems_app(problems_settings)) as problems_url,
        serve(routing_app(routing_settings)) as routing_url,
    ):
        yield Services(auth_url, problems_url, routing_url)
