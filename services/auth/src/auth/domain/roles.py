"""Coarse roles that travel in access tokens. Fine-grained rights are decided by the owning service."""

CITIZEN = "citizen"
OFFICIAL = "official"
MODERATOR = "moderator"
OPERATOR = "operator"
CHAMBER_MEMBER = "chamber_member"
VOLUNTEER = "volunteer"

ROLES = frozenset({CITIZEN, OFFICIAL, MODERATOR, OPERATOR, CHAMBER_MEMBER, VOLUNTEER})
GRANTABLE = ROLES - {CITIZEN}
"""Everyone is a citizen; the others are granted (by operators, or ``volunteer`` by a DOBRO.RU link)."""


def effective_roles(granted: set[str] | frozenset[str]) -> frozenset[str]:
    return frozenset(granted) | {CITIZEN}
