"""The routing service's composition root: ``uvicorn routing.main:create_app --factory``."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from routing.api import routers
from routing.domain.appeals import TransitionError
from routing.settings import RoutingSettings
from servicekit.app import create_service_app
from servicekit.http.problems import problem_response


async def _transition_refused(request: Request, exc: Exception) -> JSONResponse:
    """A step the 59-FZ rules do not allow now: 409 with the rule in Russian."""
    assert isinstance(exc, TransitionError)
    return problem_response(409, exc.detail, title="Not allowed now", instance=request.url.path)


def create_app(settings: RoutingSettings | None = None) -> FastAPI:
    settings = settings or RoutingSettings()
    app = create_service_app(
        settings,
        title="Gorod routing",
        description=(
            "Territories, authorities and jurisdictions; official appeals and their 59-FZ "
            "deadlines; the officials' cabinet."
        ),
        routers=routers,
    )
    app.add_exception_handler(TransitionError, _transition_refused)
    return app
