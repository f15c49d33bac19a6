"""manage.py reporting_refresh [VIEW ...]: refresh reports now and print the result.

Without names: reporting.refresh_all() (every registered view you may
manage, in dependency order, in parallel).  With names: reporting.refresh()
of each, in the order given.  Waits for the refreshes and prints one row per
view (status, mode, rows, duration, error); exits with an error when one
failed.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from pg_reporting.errors import from_database_error


def format_table(headers, rows):
    """A plain-text table, like psql's."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths)),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


class Command(BaseCommand):
    help = "Refresh registered reports now (all, or the ones named) and print the results."

    def add_arguments(self, parser):
        parser.add_argument("views", nargs="*", help="materialized views to refresh (default: all registered)")
        parser.add_argument("--database", default="default", help="database alias (default: default)")

    def handle(self, *args, **options):
        headers = ["view", "status", "mode", "rows", "duration", "error"]
        rows = []
        try:
            with connections[options["database"]].cursor() as cursor:
                if options["views"]:
                    for view in options["views"]:
                        cursor.execute("SELECT mode, rows, duration FROM reporting.refresh(%s::regclass)", [view])
                        mode, count, duration = cursor.fetchone()
                        rows.append([view, "refreshed", mode, count, duration, None])
                else:
                    cursor.execute(
                        "SELECT view::text, status, mode, rows, duration, error"
                        "  FROM reporting.refresh_all() ORDER BY view::text COLLATE \"C\"")
                    rows = cursor.fetchall()
        except DatabaseError as exc:
            error = from_database_error(exc)
            raise CommandError("%s (SQLSTATE %s)" % (error, error.sqlstate)) from exc
        self.stdout.write(format_table(headers, rows))
        failed = [r[0] for r in rows if r[1] == "failed"]
        if failed:
            raise CommandError("refresh failed: %s" % ", ".join(failed))
