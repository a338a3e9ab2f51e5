"""HTTP routers of the inspectors service: public, cabinet and admin apart."""

from fastapi import APIRouter

routers: list[APIRouter] = []
