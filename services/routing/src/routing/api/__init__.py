"""HTTP routers of the routing service: public, cabinet and admin apart."""

from fastapi import APIRouter

routers: list[APIRouter] = []
