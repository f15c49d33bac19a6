"""pg_reporting: the Django companion of the ``reporting`` PostgreSQL extension.

Reports live in ``.sql`` files shipped by migrations; this app adds the glue
every team otherwise writes itself:

- ``pg_reporting.operations``: migration operations (run an .up.sql/.down.sql
  pair, register a report, redefine a report from a .sql file);
- management commands ``reporting_refresh`` and ``reporting_status``;
- ``pg_reporting.freshness``: how fresh a report is, without ever aborting
  the caller's transaction;
- ``pg_reporting.decorators``: 503 with Retry-After for a stale report, and
  as-of / cache-lifetime response headers;
- ``pg_reporting.testing``: refresh now, assert fresh, pause scheduling in
  the test database.

The app label is ``pg_reporting`` so that it never clashes with an
application's own ``reporting`` app.
"""

default_app_config = "pg_reporting.apps.PgReportingConfig"
