"""HTTP routers of the analytics service: public, cabinet and admin apart."""

from fastapi import APIRouter

routers: list[APIRouter] = []
