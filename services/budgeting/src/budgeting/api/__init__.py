"""HTTP routers of the budgeting service: public, cabinet and admin apart."""

from fastapi import APIRouter

routers: list[APIRouter] = []
