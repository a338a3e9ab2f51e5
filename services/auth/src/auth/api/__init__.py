"""HTTP routers of the auth service: public, cabinet and admin apart."""

from fastapi import APIRouter

routers: list[APIRouter] = []
