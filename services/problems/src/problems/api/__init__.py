"""HTTP routers of the problems service: public, moderation and admin apart.

The reading router goes first: its ``/api/v1/problems/map`` must not meet a ``{problem_id}`` route
(ours use the ``uuid`` path convertor anyway)."""

from fastapi import APIRouter

from problems.api import catalog, comments, moderation, reading, reports, subscriptions

routers: list[APIRouter] = [
    reading.router,
    subscriptions.router,
    catalog.router,
    catalog.admin,
    moderation.router,
    reports.router,
    comments.router,
]
