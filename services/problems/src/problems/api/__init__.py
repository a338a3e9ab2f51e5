"""HTTP routers of the problems service: public, cabinet and admin apart."""

from fastapi import APIRouter

routers: list[APIRouter] = []
