"""Gorod gateway: one public API for web, widget and mobile; admin API; Open311 GeoReport v2."""
