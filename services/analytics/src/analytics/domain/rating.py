"""The people's rating of departments: a Bayesian average with a minimum number of votes.

Votes: a resident's 1–5 rating of an answer counts as its score; confirming that the problem was solved counts
as a 5, disputing the solution (reopening the problem) as a 1. A department's score is

    score = (C · m + Σ votes) / (C + n)

where ``n`` is its number of votes, ``m`` the mean of all votes in the territory and ``C`` the minimum number
of votes. A department with few votes is pulled toward the territory's mean, so three fives do not beat two
hundred fours; departments with fewer than ``C`` votes are shown, but not ranked.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MIN_VOTES = 10


@dataclass(frozen=True)
class DepartmentVotes:
    department_id: str
    name: str
    votes: int
    total: int
    """Sum of the votes' scores."""
    ratings: int
    confirmations: int
    disputes: int


@dataclass(frozen=True)
class RatedDepartment:
    department_id: str
    name: str
    rank: int | None
    score: float
    mean: float
    votes: int
    ratings: int
    confirmations: int
    disputes: int


def rank(departments: list[DepartmentVotes], *, min_votes: int = DEFAULT_MIN_VOTES) -> list[RatedDepartment]:
    """Scores and ranks, best first; unranked departments (too few votes) after the ranked, by score too."""
    votes = sum(d.votes for d in departments)
    prior = sum(d.total for d in departments) / votes if votes else 0.0
    rated = [
        (
            d,
            (min_votes * prior + d.total) / (min_votes + d.votes) if (min_votes + d.votes) else 0.0,
            d.total / d.votes if d.votes else 0.0,
        )
        for d in departments
    ]
    rated.sort(key=lambda item: (item[0].votes < min_votes, -item[1], -item[0].votes, item[0].name))
    result: list[RatedDepartment] = []
    position = 0
    for d, score, mean in rated:
        ranked = d.votes >= min_votes
        if ranked:
            position += 1
        result.append(
            RatedDepartment(
                d.department_id,
                d.name,
                position if ranked else None,
                round(score, 3),
                round(mean, 3),
                d.votes,
                d.ratings,
                d.confirmations,
                d.disputes,
            )
        )
    return result
