"""Test helpers for reports, for Django's test runner.

    from pg_reporting.testing import refresh_now, assert_fresh, pause_scheduling

- ``refresh_now(*views)``: refresh reports in the test's own transaction
  (reporting.refresh(), so a TestCase's uncommitted rows are seen), named
  ones in the order given, else every registered one in dependency order;
- ``assert_fresh(view, within=None)``: fail the test with the freshness
  sentence when the report is stale;
- ``pause_scheduling()`` / ``resume_scheduling()``: no scheduled refresh in
  the test database (reporting.pause_scheduling(); the test role owns that
  database), so reports change only when a test refreshes them;
- ``ReportingTestRunner``: Django's DiscoverRunner that pauses scheduling in
  every test database it creates (TEST_RUNNER = "pg_reporting.testing.ReportingTestRunner").
"""

from datetime import timedelta

from django.db import connections
from django.test.runner import DiscoverRunner

from .freshness import freshness

# how long a pause lasts if the runner dies without resuming (the extension's maximum is 7 days)
PAUSE = timedelta(hours=6)


def refresh_now(*views, using="default"):
    """Refresh ``views`` (all registered views when none are named) now, in
    the current transaction; returns [(view, mode, rows)]."""
    results = []
    with connections[using].cursor() as cursor:
        if not views:
            cursor.execute("SELECT view::text FROM reporting._refresh_plan()"
                           " ORDER BY level, view::text COLLATE \"C\"")
            views = [row[0] for row in cursor.fetchall()]
        for view in views:
            cursor.execute("SELECT mode, rows FROM reporting.refresh(%s::regclass)", [view])
            results.append((view,) + tuple(cursor.fetchone()))
    return results


def assert_fresh(view, within=None, using="default"):
    """Raise AssertionError, with the reason and the freshness sentence,
    unless ``view`` is fresh (within ``within``, a timedelta, when given)."""
    f = freshness(view, within, using=using)
    if not f.fresh:
        raise AssertionError("%s is not fresh: %s (%s)" % (view, f.reason, f.sentence))
    return f


def pause_scheduling(duration=PAUSE, using="default"):
    """No scheduled refresh in the database of ``using`` for ``duration``."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT reporting.pause_scheduling(%s::interval)", [duration])


def resume_scheduling(using="default"):
    """End a pause_scheduling()."""
    pause_scheduling(timedelta(0), using=using)


def _pause_clone(connection, suffix, duration=PAUSE):
    """Pause scheduling in the clone ``suffix`` of a test database (made by
    ``manage.py test --parallel N``): a copy of a database does not inherit
    its pause, which is held by the server per database."""
    settings = connection.creation.get_test_db_clone_settings(str(suffix))
    clone = connection.__class__(settings, alias="%s_clone_%s" % (connection.alias, suffix))
    try:
        with clone.cursor() as cursor:
            cursor.execute("SELECT reporting.pause_scheduling(%s::interval)", [duration])
    finally:
        clone.close()


class ReportingTestRunner(DiscoverRunner):
    """DiscoverRunner that pauses scheduling in the test databases it creates,
    and in their clones when tests run in parallel."""

    def setup_databases(self, **kwargs):
        old_config = super().setup_databases(**kwargs)
        for alias in connections:
            connection = connections[alias]
            if connection.vendor != "postgresql":
                continue
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'reporting'")
                installed = cursor.fetchone() is not None
            if not installed:
                continue
            pause_scheduling(using=alias)
            if self.parallel > 1:
                for suffix in range(1, self.parallel + 1):
                    _pause_clone(connection, suffix)
        return old_config
