"""HTTP routers of the initiatives service: public, cabinet and admin apart."""

from fastapi import APIRouter

routers: list[APIRouter] = []
