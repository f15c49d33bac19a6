"""How fresh a report is, over ``reporting.freshness(view, within)``.

The query runs inside a savepoint (``transaction.atomic``): an error (a view
that does not exist, a missing grant) raises ``ReportingError`` with its
SQLSTATE and leaves the caller's transaction usable, which a bare cursor
would not (PostgreSQL aborts the whole transaction on an error).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from django.db import DatabaseError, connections, transaction

from .errors import from_database_error


@dataclass(frozen=True)
class Freshness:
    """One report's freshness, as reporting.freshness() says it.

    fresh            no committed change is missing (or the lag is within "within")
    as_of            up to when it holds every committed change (None: cannot be proven)
    lag              now minus as_of
    reason           why it is not fresh, in words (None when fresh)
    sentence         the freshness sentence reporting.status shows
    next_refresh_at  when the scheduler refreshes it next (None: manual only)
    """

    view: str
    fresh: bool
    as_of: Optional[datetime]
    lag: Optional[timedelta]
    reason: Optional[str]
    sentence: str
    next_refresh_at: Optional[datetime]


def freshness(view, within=None, using="default"):
    """The Freshness of materialized view ``view`` (a name, optionally schema-qualified).

    within: a timedelta; when given, "fresh" means the lag is at most that
    long, otherwise that no committed change is missing.  Raises
    ReportingError (42P01 for an unknown view, 22023 for a negative
    ``within``) without aborting the caller's transaction.
    """
    try:
        with transaction.atomic(using=using):
            with connections[using].cursor() as cursor:
                cursor.execute(
                    "SELECT fresh, as_of, lag, reason, sentence, next_refresh_at"
                    "  FROM reporting.freshness(%s::regclass, %s::interval)",
                    [view, within])
                row = cursor.fetchone()
    except DatabaseError as exc:
        raise from_database_error(exc) from exc
    return Freshness(view, *row)


def overdue(using="default"):
    """Registered views the scheduler should have refreshed over a minute ago, or whose
    last run failed: a list of (view, freshness sentence, next_refresh_at,
    last_status), in name order.  Runs in a savepoint, like freshness()."""
    try:
        with transaction.atomic(using=using):
            with connections[using].cursor() as cursor:
                cursor.execute(
                    "SELECT view::text, freshness, next_refresh_at, last_status"
                    "  FROM reporting.status"
                    " WHERE next_refresh_at < now() - interval '1 minute'"
                    "    OR last_status IN ('failed', 'interrupted')"
                    " ORDER BY view::text COLLATE \"C\"")
                return cursor.fetchall()
    except DatabaseError as exc:
        raise from_database_error(exc) from exc
