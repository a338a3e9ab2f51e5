"""HTTP routers of the analytics service: public reports (and the operators' per-appeal list) apart."""

from fastapi import APIRouter

from analytics.api.reports import router as reports_router

routers: list[APIRouter] = [reports_router]
