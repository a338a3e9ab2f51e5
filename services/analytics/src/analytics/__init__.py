"""Gorod analytics: read models built from events: territory dashboards, the overdue report, the
people's rating.
"""
