"""Rollups of the read models computed afresh from their source table, all at once: how a rebuild fills them
(their triggers stand aside meanwhile, see :func:`analytics.db.positions.defer_rollups`). The same SQL as the
backfills of the migrations that created them (0003 to 0007); a test holds the trigger-kept rollups equal to it.
"""

PROBLEM_DAYS = """
INSERT INTO analytics.problem_days (territory_id, day, category_code, category_name, status, reported, solved)
SELECT territory_id, day, category_code, category_name, status, sum(reported), sum(solved)
  FROM (
    SELECT t.id AS territory_id, x.day, COALESCE(p.category_code, '') AS category_code,
           COALESCE(p.category_name, '') AS category_name, p.status, x.reported, x.solved
      FROM analytics.problems p
      JOIN analytics.territories t ON t.id = ANY(p.territory_path)
      CROSS JOIN LATERAL (
        SELECT (p.reported_at AT TIME ZONE t.timezone)::date AS day, 1 AS reported, 0 AS solved
         WHERE p.reported_at IS NOT NULL AND p.status NOT IN ('moderation', 'rejected', 'merged', 'withdrawn')
        UNION ALL
        SELECT (p.solved_at AT TIME ZONE t.timezone)::date, 0, 1 WHERE p.solved_at IS NOT NULL) x) c
 GROUP BY 1, 2, 3, 4, 5
"""

# Counted by local day first, and the weeks from the days: each appeal's times are bucketed once, and it is
# expanded only to the territories of its path (not to every span as well); the same rows as the backfill of
# migration 0004, which the rebuild-equals-incremental test holds them to.
_APPEAL_TIMES = """
INSERT INTO analytics.appeal_times (territory_id, span, start, appeals, registration, answer)
WITH entries AS (
  SELECT t.id AS territory_id, (a.sent_at AT TIME ZONE t.timezone)::date AS day, a.registration, a.answer
    FROM (SELECT x.sent_at, x.territory_path,
                 analytics.duration_bucket(extract(epoch FROM x.registered_at - x.sent_at)) AS registration,
                 analytics.duration_bucket(extract(epoch FROM x.answered_at - x.sent_at)) AS answer
            FROM analytics.appeals x
           WHERE x.sent_at IS NOT NULL) a
    JOIN analytics.territories t ON t.id = ANY(a.territory_path){only}
), sets AS (
  -- one pass, three countings: appeals (g = 3), by registration bucket (g = 1), by answer bucket (g = 2)
  SELECT territory_id, day, GROUPING(registration, answer) AS g, registration, answer, count(*) AS n
    FROM entries
   GROUP BY GROUPING SETS ((territory_id, day), (territory_id, day, registration), (territory_id, day, answer))
), days AS (
  SELECT territory_id, day, metric, i, n
    FROM (SELECT territory_id, day, n, CASE g WHEN 3 THEN 'a' WHEN 1 THEN 'r' ELSE 'n' END AS metric,
                 CASE g WHEN 3 THEN 0 WHEN 1 THEN registration ELSE answer END AS i
            FROM sets) c
   WHERE i IS NOT NULL
), spans AS (
  SELECT territory_id, 'day' AS span, day AS start, metric, i, n FROM days
  UNION ALL
  SELECT territory_id, 'week', date_trunc('week', day::timestamp)::date, metric, i, sum(n)::bigint FROM days
   GROUP BY 1, 3, 4, 5
)
SELECT territory_id, span, start, sum(n) FILTER (WHERE metric = 'a'),
       analytics.hist_from(array_agg(i) FILTER (WHERE metric = 'r'), array_agg(n) FILTER (WHERE metric = 'r')),
       analytics.hist_from(array_agg(i) FILTER (WHERE metric = 'n'), array_agg(n) FILTER (WHERE metric = 'n'))
  FROM spans
 GROUP BY 1, 2, 3
"""

APPEAL_TIMES = _APPEAL_TIMES.format(only="")

PROBLEM_WEEKS = """
INSERT INTO analytics.problem_weeks (territory_id, week, category_code, category_name, status, reported, solved)
SELECT territory_id, week, category_code, category_name, status, sum(reported), sum(solved)
  FROM (
    SELECT t.id AS territory_id, x.week, COALESCE(p.category_code, '') AS category_code,
           COALESCE(p.category_name, '') AS category_name, p.status, x.reported, x.solved
      FROM analytics.problems p
      JOIN analytics.territories t ON t.id = ANY(p.territory_path)
      CROSS JOIN LATERAL (
        SELECT date_trunc('week', p.reported_at AT TIME ZONE t.timezone)::date AS week, 1 AS reported, 0 AS solved
         WHERE p.reported_at IS NOT NULL AND p.status NOT IN ('moderation', 'rejected', 'merged', 'withdrawn')
        UNION ALL
        SELECT date_trunc('week', p.solved_at AT TIME ZONE t.timezone)::date, 0, 1 WHERE p.solved_at IS NOT NULL) x) c
 GROUP BY 1, 2, 3, 4, 5
"""


def appeal_times_of(territories: str) -> str:
    """The rows of ``appeal_times`` of the territories in the uuid[] expression ``territories`` only."""
    return _APPEAL_TIMES.format(only=f" WHERE t.id = ANY({territories})")


_VOTE_ATTRIBUTION = """
SELECT v.event_id, v.problem_id, v.voted_at, v.kind, v.score, a.territory_path,
       COALESCE(a.department_id, a.authority_id) AS unit_id, a.department_id IS NOT NULL AS via_department,
       a.authority_name
  FROM analytics.votes v
  JOIN LATERAL (
    SELECT x.territory_path, x.department_id, x.authority_id, x.authority_name FROM analytics.appeals x
     WHERE x.id = v.appeal_id
    UNION ALL
    (SELECT x.territory_path, x.department_id, x.authority_id, x.authority_name FROM analytics.appeals x
      WHERE v.appeal_id IS NULL AND x.problem_id = v.problem_id ORDER BY x.sent_at DESC NULLS LAST, x.id LIMIT 1)
  ) a ON true
 WHERE {where}
"""

_VOTE_DAYS = """
SELECT t.id AS territory_id, s.span, s.start, r.unit_id, r.via_department, r.authority_name,
       count(*)::int AS votes, sum(r.score)::int AS total,
       (count(*) FILTER (WHERE r.kind = 'rating'))::int AS ratings,
       (count(*) FILTER (WHERE r.kind = 'confirmed'))::int AS confirmations,
       (count(*) FILTER (WHERE r.kind = 'reopened'))::int AS disputes
  FROM {source} r
  JOIN analytics.territories t ON t.id = ANY(r.territory_path)
  CROSS JOIN LATERAL (SELECT (r.voted_at AT TIME ZONE t.timezone)::date AS day) d
  CROSS JOIN LATERAL (VALUES ('day', d.day), ('week', date_trunc('week', d.day::timestamp)::date)) s(span, start)
 WHERE {where}
 GROUP BY 1, 2, 3, 4, 5, 6
"""

_VOTE_COLUMNS = (
    "territory_id, span, start, unit_id, via_department, authority_name, votes, total, ratings, confirmations, disputes"
)

VOTE_ATTRIBUTIONS = "INSERT INTO analytics.vote_attributions " + _VOTE_ATTRIBUTION.format(where="true")

VOTE_DAYS = f"INSERT INTO analytics.vote_days ({_VOTE_COLUMNS}) " + _VOTE_DAYS.format(
    source="analytics.vote_attributions", where="true"
)


def vote_attributions_of(problems: str) -> str:
    """The attributions of the votes of the problems selected by the subquery ``problems``."""
    return "INSERT INTO analytics.vote_attributions " + _VOTE_ATTRIBUTION.format(where=f"v.problem_id IN ({problems})")


def vote_days_of(territories: str) -> str:
    """The rows of ``vote_days`` of the territories in the uuid[] expression ``territories`` only."""
    return f"INSERT INTO analytics.vote_days ({_VOTE_COLUMNS}) " + _VOTE_DAYS.format(
        source="analytics.vote_attributions", where=f"t.id = ANY({territories})"
    )


AUTHORITY_DAYS = """
INSERT INTO analytics.authority_days (unit_id, span, start, appeals, answered, on_time, answer_seconds, solved)
SELECT unit_id, span, start, count(*), sum(answered), sum(on_time), COALESCE(sum(answer_seconds), 0), sum(solved)
  FROM (
SELECT u.unit_id, s.span, s.start, (a.answered_at IS NOT NULL)::int AS answered,
       (a.on_time IS TRUE)::int AS on_time, extract(epoch FROM a.answered_at - a.sent_at) AS answer_seconds,
       (EXISTS (SELECT 1 FROM analytics.problems p WHERE p.id = a.problem_id AND p.status = 'solved'))::int AS solved
  FROM analytics.appeals a
  CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(ARRAY[a.authority_id, a.department_id]) x
                       WHERE x IS NOT NULL) u(unit_id)
  CROSS JOIN LATERAL (SELECT (a.sent_at AT TIME ZONE 'Europe/Moscow')::date AS day) d
  CROSS JOIN LATERAL (VALUES ('day', d.day), ('month', date_trunc('month', d.day::timestamp)::date)) s(span, start)
 WHERE a.sent_at IS NOT NULL
) e
 GROUP BY 1, 2, 3
"""
