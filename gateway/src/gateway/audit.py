"""The audit log of admin calls: who, what, result, one JSON object per line.

The gateway has no database, so every ``/admin/v1/*`` call (allowed or refused) is written by the logger
``gateway.audit``: to the structured log on stdout like every other line, and, when ``GATEWAY_AUDIT_LOG_PATH``
is set, appended to that file as JSON lines (one writer per replica: give each replica its own file or ship
stdout to the log store). Lines carry ids, method, path and status, never a body, query string or token.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from asgi_correlation_id import correlation_id

from servicekit.security import Principal

log = logging.getLogger("gateway.audit")


class AuditLog:
    def __init__(self, path: str = "") -> None:
        self._file_logger: logging.Logger | None = None
        self._handler: logging.FileHandler | None = None
        if path:
            self._handler = logging.FileHandler(path, encoding="utf-8", delay=False)
            self._handler.setFormatter(logging.Formatter("%(message)s"))
            self._file_logger = logging.getLogger(f"gateway.audit.file.{id(self)}")
            self._file_logger.propagate = False
            self._file_logger.setLevel(logging.INFO)
            self._file_logger.addHandler(self._handler)

    def record(
        self, *, principal: Principal | None, method: str, path: str, service: str, status: int, duration: float
    ) -> None:
        entry = {
            "time": datetime.now(UTC).isoformat(),
            "request_id": correlation_id.get(),
            "subject": principal.subject if principal else None,
            "client_id": principal.client_id if principal else None,
            "roles": sorted(principal.roles) if principal else [],
            "method": method,
            "path": path,
            "service": service,
            "status": status,
            "result": _result(status),
            "duration_ms": round(duration * 1000, 1),
        }
        log.info("admin call", extra={"audit": entry})
        if self._file_logger is not None:
            self._file_logger.info(json.dumps(entry, ensure_ascii=False))

    def close(self) -> None:
        if self._handler is not None and self._file_logger is not None:
            self._file_logger.removeHandler(self._handler)
            self._handler.close()


def _result(status: int) -> str:
    if not status or status >= 500:
        return "failed"
    return "allowed" if status < 400 else "refused"
