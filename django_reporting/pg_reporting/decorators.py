"""A view decorator for endpoints that serve a report.

``@require_fresh("reporting_daily_revenue", within=timedelta(minutes=10))``
answers 503 Service Unavailable with a ``Retry-After`` header when the report
is staler than allowed, instead of serving old numbers as if they were new;
every answer carries when the report holds data up to and how long a cache
may keep the answer:

    Last-Modified      the report's as-of time (HTTP date)
    X-Report-As-Of     the same, ISO 8601
    X-Report-Freshness the freshness sentence
    Cache-Control      max-age = seconds until the next scheduled refresh
                       (no-cache when nothing is scheduled or it is overdue)

The freshness query runs in a savepoint (see pg_reporting.freshness), so the
request's transaction (ATOMIC_REQUESTS) is never aborted by it.
"""

from datetime import timedelta
from functools import wraps

from django.http import JsonResponse
from django.utils import timezone
from django.utils.http import http_date

from .freshness import freshness

# when the scheduler says nothing about the next refresh
DEFAULT_RETRY_AFTER = 60


def seconds_until(moment):
    """Whole seconds from now until ``moment`` (0 when it is past), or None."""
    if moment is None:
        return None
    return max(0, int((moment - timezone.now()).total_seconds() + 0.999))


def add_freshness_headers(response, f):
    """Put the as-of time and the cache lifetime of Freshness ``f`` on ``response``."""
    if f.as_of is not None:
        response["Last-Modified"] = http_date(f.as_of.timestamp())
        response["X-Report-As-Of"] = f.as_of.isoformat()
    response["X-Report-Freshness"] = f.sentence.encode("ascii", "replace").decode("ascii")
    max_age = seconds_until(f.next_refresh_at) if f.fresh else None
    response["Cache-Control"] = "max-age=%d" % max_age if max_age else "no-cache"
    return response


def require_fresh(view, within=None, using="default"):
    """Decorate a Django view serving materialized view ``view``.

    within: a timedelta (None: no committed change may be missing).  A stale
    report gets 503 with Retry-After (seconds until its next refresh, at
    least 1; 60 when none is scheduled) and a JSON body with the reason.
    """
    if within is not None and not isinstance(within, timedelta):
        raise TypeError("within must be a datetime.timedelta or None")

    def decorate(func):
        @wraps(func)
        def wrapper(request, *args, **kwargs):
            f = freshness(view, within, using=using)
            if f.fresh:
                response = func(request, *args, **kwargs)
            else:
                response = JsonResponse(
                    {"error": "report is staler than allowed", "view": view,
                     "freshness": f.sentence, "reason": f.reason}, status=503)
                retry = seconds_until(f.next_refresh_at)
                response["Retry-After"] = str(max(1, retry) if retry is not None else DEFAULT_RETRY_AFTER)
            return add_freshness_headers(response, f)
        return wrapper
    return decorate
