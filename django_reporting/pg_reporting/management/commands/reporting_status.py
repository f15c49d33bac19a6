"""manage.py reporting_status: the freshness of every registered report, in words.

Prints one line per registered view with its freshness sentence (from
reporting.status), then the overdue ones: due for over a minute, or whose
last refresh failed.  --fail-if-overdue exits with an error when there are
any (for monitoring).
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from pg_reporting.errors import from_database_error
from pg_reporting.freshness import overdue


class Command(BaseCommand):
    help = "Show how fresh every registered report is, and which are overdue."

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="database alias (default: default)")
        parser.add_argument("--fail-if-overdue", action="store_true",
                            help="exit with an error when a report is overdue")

    def handle(self, *args, **options):
        using = options["database"]
        try:
            with connections[using].cursor() as cursor:
                cursor.execute("SELECT view::text, freshness FROM reporting.status"
                               " ORDER BY view::text COLLATE \"C\"")
                reports = cursor.fetchall()
        except DatabaseError as exc:
            error = from_database_error(exc)
            raise CommandError("%s (SQLSTATE %s)" % (error, error.sqlstate)) from exc
        if not reports:
            self.stdout.write("no registered reports")
        for view, sentence in reports:
            self.stdout.write("%s: %s" % (view, sentence))
        late = overdue(using=using)
        if late:
            self.stdout.write("overdue:")
            for view, sentence, next_refresh_at, last_status in late:
                self.stdout.write("  %s (last run %s, due %s)" % (view, last_status or "none", next_refresh_at))
        else:
            self.stdout.write("overdue: none")
        if late and options["fail_if_overdue"]:
            raise CommandError("%d overdue report(s)" % len(late))
