"""What of an event's data analytics keeps: nothing personal (152-FZ), nothing it does not report on.

The archive keeps events for rebuilding read models; names, e-mail addresses, free text written by residents
or officials and photos are never needed for that, so they are removed before an event is archived.
"""

from __future__ import annotations

from typing import Any

DROPPED_FIELDS = frozenset(
    {
        "applicant",  # a resident's name, e-mail, postal address
        "author_id",  # who reported: a person's id is not needed for aggregates
        "answered_by",  # an official's name
        "assignee_name",  # an official's name
        "title",  # free text by a resident, may name people
        "description",
        "address",
        "photos",
        "text",  # an answer's text
        "attachments",
        "reason",  # free text (reopening, forwarding, extension) may name people
        "refusal_reason",
        "extra",
        "error",
    }
)


def redact(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the fields analytics must not or need not keep."""
    return {key: value for key, value in data.items() if key not in DROPPED_FIELDS}
