"""Gorod problems: the city problem map: reports with photos and place, supports, comments,
subscriptions, moderation.
"""
