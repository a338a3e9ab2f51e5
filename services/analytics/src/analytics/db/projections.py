"""The SQL of every read model, applied by :mod:`analytics.db.positions` to a run of archived events in order.

Most events concern one entity (a problem, an appeal): a run is cut into rounds that hold at most one event per
entity, in order, and each statement applies all the events of one type in a round at once, reading them from
``{EVENTS} e`` (columns ``data``, the event's data as JSON, and ``event_id``). Applying a thousand events
costs a few dozen statements, not a thousand, with the same result as one by one: the events of one entity
keep their order, and those of different entities do not touch each other's rows.

An event that concerns many entities (a territory's boundary changed: the problems and appeals in it) is applied
alone, between the rounds before and after it, by statements that read ``ev_data`` and ``ev_id``.

The SQL functions ``point_territory`` and ``territory_ancestors`` are created by migration 0002 (0008).
"""
# ruff: noqa: S608 - only our own SQL fragments and allow-listed sort columns are interpolated; values are bound

from __future__ import annotations

from dataclasses import dataclass, field

from analytics.db import rollups

EVENTS = "{events}"
"""Stands in the statements of :attr:`ModelSql.each` for the events of one type in one round."""

E = "e.data"
"""The data of an event of the round, in the statements of :attr:`ModelSql.each`."""

ALONE = "ev_data"
"""The data of the event applied alone, in the statements of :attr:`ModelSql.alone`."""


def _uuid(key: str, d: str = E) -> str:
    return f"NULLIF({d} ->> '{key}', '')::uuid"


def _ts(key: str, d: str = E) -> str:
    return f"({d} ->> '{key}')::timestamptz"


def _point(d: str = E) -> str:
    return f"ST_SetSRID(ST_MakePoint(({d} -> 'point' ->> 'lon')::float8, ({d} -> 'point' ->> 'lat')::float8), 4326)"


@dataclass(frozen=True)
class EventSql:
    entity: str
    """The key in the event's data that names the one entity it concerns (two events with the same value are
    never applied in the same statement)."""
    statements: tuple[str, ...]
    """Run in order for each round's events of the type, which they read from ``{EVENTS} e``."""


@dataclass(frozen=True)
class ModelSql:
    name: str
    tables: tuple[str, ...]
    """Emptied (TRUNCATE) before a rebuild."""
    each: dict[str, EventSql] = field(default_factory=dict)
    """Routing key -> how the events of that key are applied, a round at a time."""
    alone: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Routing key -> PL/pgSQL statements run for each event of that key alone (``ev_data``, ``ev_id``)."""
    rollups: dict[str, str] = field(default_factory=dict)
    """Rollup table (among ``tables``, kept by a trigger) -> the SQL that fills it afresh from the model, which
    a rebuild runs once at the end instead of the trigger on every row."""

    @property
    def routing_keys(self) -> list[str]:
        return sorted({*self.each, *self.alone})


# --- directory -------------------------------------------------------------------------------------------

_TERRITORY_UPSERT = f"""
INSERT INTO territories AS t (id, oktmo, name, level, parent_id, timezone, boundary, area, changed_at)
SELECT {_uuid("territory_id")}, {E} ->> 'oktmo', {E} ->> 'name', {E} ->> 'level', {_uuid("parent_id")},
       {E} ->> 'timezone', g.geom, ST_Area(g.geom::geography)::bigint, {_ts("changed_at")}
  FROM {EVENTS} e
 CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof({E} -> 'boundary') = 'object'
                                 THEN ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON({E} ->> 'boundary'), 4326)) END AS geom) g
ON CONFLICT (id) DO UPDATE SET oktmo = excluded.oktmo, name = excluded.name, level = excluded.level,
       parent_id = excluded.parent_id, timezone = excluded.timezone, boundary = excluded.boundary,
       area = excluded.area, changed_at = excluded.changed_at
"""

_AUTHORITY_UPSERT = f"""
INSERT INTO authorities AS a (id, name, kind, parent_id, territory_id, changed_at)
SELECT {_uuid("authority_id")}, {E} ->> 'name', {E} ->> 'kind', {_uuid("parent_id")}, {_uuid("territory_id")},
       {_ts("changed_at")}
  FROM {EVENTS} e
ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, parent_id = excluded.parent_id,
       territory_id = excluded.territory_id, changed_at = excluded.changed_at
"""

DIRECTORY = ModelSql(
    "directory",
    ("territories", "authorities"),
    each={
        "routing.territory.changed.v1": EventSql("territory_id", (_TERRITORY_UPSERT,)),
        "routing.authority.changed.v1": EventSql("authority_id", (_AUTHORITY_UPSERT,)),
    },
)

# --- problems --------------------------------------------------------------------------------------------

_PROBLEM_COLUMNS = "id, category_id, category_code, category_name, status, status_changed_at, point, territory_id"


def _problem_insert(status: str, changed_at: str, extra_cols: str = "", extra_vals: str = "") -> str:
    """An upsert that places a new problem (point in territory) only when it is new: locating costs a GiST
    lookup and a walk up the hierarchy, which the many later events of a problem need not pay."""
    return f"""
INSERT INTO problems AS p ({_PROBLEM_COLUMNS}, territory_path{extra_cols})
SELECT {_uuid("problem_id")}, {_uuid("category_id")}, {E} ->> 'category_code', {E} ->> 'category_name',
       {status}, {changed_at}, {_point()}, l.territory_id, territory_ancestors(l.territory_id){extra_vals}
  FROM {EVENTS} e
  LEFT JOIN LATERAL (SELECT point_territory({_point()}) AS territory_id
                      WHERE NOT EXISTS (SELECT FROM problems q WHERE q.id = {_uuid("problem_id")})) l ON true
"""


_PROBLEM_REPORTED = (
    _problem_insert(f"{E} ->> 'status'", _ts("reported_at"), ", reported_at", f", {_ts('reported_at')}")
    + """
ON CONFLICT (id) DO UPDATE SET reported_at = excluded.reported_at,
       category_code = COALESCE(excluded.category_code, p.category_code),
       category_name = COALESCE(excluded.category_name, p.category_name)
"""
)

_PROBLEM_PUBLISHED = (
    _problem_insert(
        "'published'",
        _ts("published_at"),
        ", published_at, reported_at",
        f", {_ts('published_at')}, {_ts('reported_at')}",
    )
    + """
ON CONFLICT (id) DO UPDATE SET published_at = excluded.published_at,
       reported_at = COALESCE(p.reported_at, excluded.reported_at),
       category_id = excluded.category_id, category_code = excluded.category_code,
       category_name = excluded.category_name,
       status = CASE WHEN p.status = 'moderation' THEN 'published' ELSE p.status END
"""
)

_PROBLEM_STATUS = (
    _problem_insert(
        f"{E} ->> 'to_status'",
        _ts("changed_at"),
        ", solved_at",
        f", CASE WHEN {E} ->> 'to_status' = 'solved' THEN {_ts('changed_at')} END",
    )
    + """
ON CONFLICT (id) DO UPDATE SET status = excluded.status, status_changed_at = excluded.status_changed_at,
       solved_at = CASE WHEN excluded.status = 'solved' THEN excluded.status_changed_at END
"""
)

_PROBLEM_REOPENED = f"""
UPDATE problems p SET reopened_count = p.reopened_count + 1 FROM {EVENTS} e WHERE p.id = {_uuid("problem_id")}
"""

_PROBLEM_CONFIRMED = f"""
UPDATE problems p SET confirmed_at = {_ts("confirmed_at")} FROM {EVENTS} e WHERE p.id = {_uuid("problem_id")}
"""

_PROBLEMS_RELOCATE = f"""
UPDATE problems p SET territory_id = l.territory_id, territory_path = territory_ancestors(l.territory_id)
  FROM (SELECT q.id, point_territory(q.point) AS territory_id
          FROM problems q
         WHERE {_uuid("territory_id", ALONE)} = ANY(q.territory_path)
            OR ST_Covers((SELECT boundary FROM territories WHERE id = {_uuid("territory_id", ALONE)}), q.point)) l
 WHERE p.id = l.id
"""

PROBLEMS = ModelSql(
    "problems",
    ("problems", "problem_days", "problem_weeks"),
    # authority_days counts the appeals whose problem is solved: counted afresh after the problems' rebuild
    rollups={
        "problem_days": rollups.PROBLEM_DAYS,
        "problem_weeks": rollups.PROBLEM_WEEKS,
        "authority_days": rollups.AUTHORITY_DAYS,
    },
    each={
        "problems.problem.reported.v1": EventSql("problem_id", (_PROBLEM_REPORTED,)),
        "problems.problem.published.v1": EventSql("problem_id", (_PROBLEM_PUBLISHED,)),
        "problems.problem.status_changed.v1": EventSql("problem_id", (_PROBLEM_STATUS,)),
        "problems.problem.reopened.v1": EventSql("problem_id", (_PROBLEM_REOPENED,)),
        "problems.problem.confirmed.v1": EventSql("problem_id", (_PROBLEM_CONFIRMED,)),
    },
    alone={"routing.territory.changed.v1": (_PROBLEMS_RELOCATE,)},
)

# --- appeals ---------------------------------------------------------------------------------------------


def _appeal_upsert(cols: dict[str, str], on_update: str, *, authority: str = "authority") -> str:
    """An upsert that finds a new appeal's territories only when it is new (its path is kept afterwards, and
    changed only with the territories)."""
    names = ", ".join(cols)
    values = ", ".join(cols.values())
    return f"""
INSERT INTO appeals AS a (id, problem_id, authority_id, authority_name, department_id, territory_id,
                          territory_path, category_id{", " if cols else ""}{names})
SELECT {_uuid("appeal_id")}, {_uuid("problem_id")}, {_uuid(authority + "_id")}, {E} ->> '{authority}_name',
       {_uuid("department_id") if authority == "authority" else "NULL"}, {_uuid("territory_id")},
       CASE WHEN NOT EXISTS (SELECT FROM appeals x WHERE x.id = {_uuid("appeal_id")})
            THEN territory_ancestors({_uuid("territory_id")}) ELSE '{{}}' END,
       {_uuid("category_id")}{", " if cols else ""}{values}
  FROM {EVENTS} e
ON CONFLICT (id) DO UPDATE SET {on_update}
"""


_APPEAL_SENT = _appeal_upsert(
    {"sent_at": _ts("occurred_at"), "channel": f"{E} ->> 'channel'", "registration_due_at": _ts("registration_due_at")},
    "sent_at = excluded.sent_at, channel = excluded.channel, registration_due_at = excluded.registration_due_at,"
    " department_id = COALESCE(excluded.department_id, a.department_id)",
)
_APPEAL_ASSIGNED = _appeal_upsert({}, "department_id = COALESCE(excluded.department_id, a.department_id)")
_APPEAL_REGISTERED = _appeal_upsert(
    {
        "registered_at": _ts("registered_at"),
        "answer_due_at": _ts("answer_due_at"),
        "registration_number": f"{E} ->> 'registration_number'",
    },
    "registered_at = excluded.registered_at, answer_due_at = excluded.answer_due_at,"
    " registration_number = excluded.registration_number",
)
_APPEAL_ANSWERED = _appeal_upsert(
    {"answered_at": _ts("answered_at"), "outcome": f"{E} ->> 'outcome'", "on_time": f"({E} ->> 'on_time')::boolean"},
    "answered_at = excluded.answered_at, outcome = excluded.outcome, on_time = excluded.on_time",
)
_APPEAL_EXTENDED = _appeal_upsert(
    {
        "answer_due_at": _ts("answer_due_at"),
        "extensions": "1",
        "extended_days": f"({E} ->> 'extended_by_days')::int",
    },
    "answer_due_at = excluded.answer_due_at, extensions = a.extensions + 1,"
    " extended_days = a.extended_days + excluded.extended_days",
)
_APPEAL_FORWARDED = _appeal_upsert(
    {"forwards": "1", "registration_due_at": _ts("registration_due_at")},
    "authority_id = excluded.authority_id, authority_name = excluded.authority_name, department_id = NULL,"
    " forwards = a.forwards + 1, registered_at = NULL, registration_number = NULL, answer_due_at = NULL,"
    " registration_due_at = COALESCE(excluded.registration_due_at, a.registration_due_at)",
    authority="to_authority",
)
_APPEAL_ESCALATED = _appeal_upsert({"escalations": "1"}, "escalations = a.escalations + 1")
_APPEAL_OVERDUE = _appeal_upsert({"overdue_flagged": "true"}, "overdue_flagged = true")
_APPEAL_DELIVERY_FAILED = _appeal_upsert({"delivery_failures": "1"}, "delivery_failures = a.delivery_failures + 1")

_APPEALS_CONCERNED = f"""
SELECT COALESCE(array_agg(DISTINCT x), '{{}}') || {_uuid("territory_id", ALONE)}
  FROM appeals a, unnest(a.territory_path) x
 WHERE a.territory_id = {_uuid("territory_id", ALONE)} OR {_uuid("territory_id", ALONE)} = ANY(a.territory_path)
"""

_APPEALS_PROBLEMS = f"""
SELECT problem_id FROM appeals
 WHERE territory_id = {_uuid("territory_id", ALONE)} OR {_uuid("territory_id", ALONE)} = ANY(territory_path)
"""

# The rollups appeal_times and vote_days join territories: a territory that arrives after its appeals (the path
# may stay the same), or changes its time zone, changes the rollup rows of the territories on those appeals'
# paths, which the triggers on appeals cannot tell; they stand aside, and those rows are counted afresh.
_APPEALS_REPATH = f"""
DECLARE
  concerned uuid[];
  deferred text := COALESCE(current_setting('analytics.defer_rollups', true), 'off');
BEGIN
  {_APPEALS_CONCERNED} INTO concerned;
  PERFORM set_config('analytics.defer_rollups', 'on', true);
  UPDATE appeals SET territory_path = territory_ancestors(territory_id)
   WHERE territory_id = {_uuid("territory_id", ALONE)} OR {_uuid("territory_id", ALONE)} = ANY(territory_path);
  PERFORM set_config('analytics.defer_rollups', deferred, true);
  IF deferred <> 'on' THEN
    {_APPEALS_CONCERNED.replace("SELECT COALESCE", "SELECT concerned || COALESCE")} INTO concerned;
    DELETE FROM appeal_times WHERE territory_id = ANY(concerned);
    {rollups.appeal_times_of("concerned")};
    DELETE FROM vote_attributions WHERE problem_id IN ({_APPEALS_PROBLEMS});
    {rollups.vote_attributions_of(_APPEALS_PROBLEMS)};
    DELETE FROM vote_days WHERE territory_id = ANY(concerned);
    {rollups.vote_days_of("concerned")};
  END IF;
END
"""

APPEALS = ModelSql(
    "appeals",
    ("appeals", "appeal_times", "authority_days"),
    # votes count for their appeals' departments: attributed afresh after the appeals' rebuild
    rollups={
        "appeal_times": rollups.APPEAL_TIMES,
        "authority_days": rollups.AUTHORITY_DAYS,
        "vote_attributions": rollups.VOTE_ATTRIBUTIONS,
        "vote_days": rollups.VOTE_DAYS,
    },
    each={
        key: EventSql("appeal_id", (statement,))
        for key, statement in {
            "routing.appeal.sent.v1": _APPEAL_SENT,
            "routing.appeal.assigned.v1": _APPEAL_ASSIGNED,
            "routing.appeal.registered.v1": _APPEAL_REGISTERED,
            "routing.appeal.answered.v1": _APPEAL_ANSWERED,
            "routing.appeal.extended.v1": _APPEAL_EXTENDED,
            "routing.appeal.forwarded.v1": _APPEAL_FORWARDED,
            "routing.appeal.escalated.v1": _APPEAL_ESCALATED,
            "routing.appeal.overdue.v1": _APPEAL_OVERDUE,
            "routing.appeal.delivery_failed.v1": _APPEAL_DELIVERY_FAILED,
        }.items()
    },
    alone={"routing.territory.changed.v1": (_APPEALS_REPATH,)},
)

# --- ratings ---------------------------------------------------------------------------------------------

_RATED = f"""
WITH previous AS (DELETE FROM votes v USING {EVENTS} e WHERE v.problem_id = {_uuid("problem_id")} AND v.kind = 'rating')
INSERT INTO votes (event_id, problem_id, appeal_id, kind, score, voted_at)
SELECT e.event_id, {_uuid("problem_id")}, {_uuid("appeal_id")}, 'rating', ({E} ->> 'rating')::int, {_ts("rated_at")}
  FROM {EVENTS} e
ON CONFLICT (event_id) DO NOTHING
"""


def _feedback(kind: str, score: int, at: str) -> str:
    return f"""
INSERT INTO votes (event_id, problem_id, appeal_id, kind, score, voted_at)
SELECT e.event_id, {_uuid("problem_id")}, {_uuid("appeal_id")}, '{kind}', {score}, {_ts(at)}
  FROM {EVENTS} e
ON CONFLICT (event_id) DO NOTHING
"""


RATINGS = ModelSql(
    "ratings",
    ("votes", "vote_attributions", "vote_days"),
    rollups={"vote_attributions": rollups.VOTE_ATTRIBUTIONS, "vote_days": rollups.VOTE_DAYS},
    # a problem's new rating replaces its last: its votes are applied in order
    each={
        "problems.problem.rated.v1": EventSql("problem_id", (_RATED,)),
        "problems.problem.confirmed.v1": EventSql("problem_id", (_feedback("confirmed", 5, "confirmed_at"),)),
        "problems.problem.reopened.v1": EventSql("problem_id", (_feedback("reopened", 1, "reopened_at"),)),
    },
)

MODELS: dict[str, ModelSql] = {m.name: m for m in (DIRECTORY, PROBLEMS, APPEALS, RATINGS)}
"""In dependency order: the directory first (problems and appeals read its territories)."""
