"""The example project's tests, run by Django's test runner (manage.py test)
against a real PostgreSQL server, as a NON-superuser role with CREATEDB: the
test database is copied from a template where a superuser installed the
extension (README: "Test databases without a superuser")."""

import io
import time
from datetime import datetime, timedelta, timezone as tz

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import TestCase, TransactionTestCase

from pg_reporting.errors import ReportingError
from pg_reporting.freshness import freshness
from pg_reporting.testing import assert_fresh, refresh_now

from .models import DailyRevenue, Order, SalesReport

DAILY = "reporting_daily_revenue"
FUNNEL = "reporting_sales_90d"


def add_orders(*rows):
    """Orders (days ago, cents, status), created at noon UTC."""
    today = datetime.now(tz.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    Order.objects.bulk_create(Order(created_at=today - timedelta(days=d), total_cents=c, status=s)
                              for d, c, s in rows)


def query(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class RunsAsNonSuperuser(TestCase):
    def test_the_test_role_is_not_a_superuser(self):
        """the whole suite proves the template recipe: no superuser needed"""
        (superuser, createdb), = query("SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user")
        self.assertFalse(superuser)
        self.assertTrue(createdb)

    def test_the_extension_came_from_the_template(self):
        self.assertEqual(query("SELECT extversion FROM pg_extension WHERE extname = 'reporting'"), [("0.5.0",)])


class Migrations(TestCase):
    def test_reports_are_registered_by_the_migrations(self):
        rows = query("SELECT view::text, coalesce(every::text, cron) FROM reporting.registrations"
                     " ORDER BY view::text COLLATE \"C\"")
        self.assertEqual(rows, [(DAILY, "00:05:00"), (FUNNEL, "5 0 * * *")])

    def test_the_redefinition_added_a_column_and_kept_the_funnel_built_on_it(self):
        columns = [r[0] for r in query("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass"
                                       " AND attnum > 0 ORDER BY attnum", [DAILY])]
        self.assertEqual(columns, ["day", "order_count", "revenue_cents", "average_order_cents"])
        self.assertEqual(query("SELECT count(*) FROM pg_indexes WHERE indexname = 'reporting_daily_revenue_day_idx'"),
                         [(1,)])
        built_on = query("SELECT count(*) FROM reporting.sources WHERE view = %s::regclass"
                         " AND source = %s::regclass", [FUNNEL, DAILY])
        self.assertEqual(built_on, [(1,)])


class Endpoints(TestCase):
    def test_fresh_report_is_served_with_as_of_and_cache_headers(self):
        add_orders((1, 1000, "paid"), (1, 3000, "paid"), (2, 500, "failed"))
        refresh_now()
        response = self.client.get("/api/revenue/daily")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["days"][0]["revenue_cents"], 4000)
        self.assertEqual(response.json()["days"][0]["average_order_cents"], 2000)
        self.assertIn("X-Report-As-Of", response)
        self.assertIn("Last-Modified", response)
        # scheduling is paused in the test database, so no next refresh: nothing to cache for
        self.assertRegex(response["Cache-Control"], r"^(max-age=\d+|no-cache)$")

    def test_stale_report_answers_503_with_retry_after(self):
        add_orders((1, 1000, "paid"))
        refresh_now()
        add_orders((0, 2500, "paid"))
        response = self.client.get("/api/sales/90d")
        self.assertEqual(response.status_code, 503)
        self.assertGreaterEqual(int(response["Retry-After"]), 1)
        self.assertIn("change", response.json()["reason"])
        refresh_now()
        self.assertEqual(self.client.get("/api/sales/90d").status_code, 200)

    def test_within_allows_some_lag(self):
        add_orders((1, 1000, "paid"))
        refresh_now(DAILY)
        add_orders((0, 10, "paid"))
        # changed, but refreshed moments ago: within 10 minutes
        self.assertEqual(self.client.get("/api/revenue/daily").status_code, 200)


class FreshnessApi(TestCase):
    def test_an_error_does_not_abort_the_callers_transaction(self):
        with transaction.atomic():
            with self.assertRaises(ReportingError) as caught:
                freshness("no_such_report")
            self.assertEqual(caught.exception.sqlstate, "42P01")
            # the transaction is still usable
            self.assertEqual(query("SELECT 1"), [(1,)])

    def test_freshness_fields(self):
        refresh_now()
        f = freshness(DAILY)
        self.assertTrue(f.fresh)
        self.assertIsNotNone(f.as_of)
        self.assertIn("every 5 minutes", f.sentence)
        self.assertIsNone(f.reason)

    def test_assert_fresh_says_why(self):
        refresh_now()
        assert_fresh(DAILY)
        add_orders((0, 100, "paid"))
        with self.assertRaisesRegex(AssertionError, "not fresh: 1 change"):
            assert_fresh(DAILY)


class ManagementCommands(TransactionTestCase):
    """refresh_all() runs in background workers: they see committed rows only."""

    def test_refresh_all_prints_the_result_table(self):
        add_orders((1, 1000, "paid"))
        out = io.StringIO()
        call_command("reporting_refresh", stdout=out)
        lines = out.getvalue().splitlines()
        self.assertRegex(lines[0], r"^view +\| status +\| mode")
        self.assertRegex(out.getvalue(), r"reporting_daily_revenue +\| refreshed")
        self.assertRegex(out.getvalue(), r"reporting_sales_90d +\| refreshed")
        self.assertEqual(DailyRevenue.objects.get().revenue_cents, 1000)
        self.assertEqual(SalesReport.objects.count(), 90)

    def test_refresh_named_views(self):
        out = io.StringIO()
        call_command("reporting_refresh", DAILY, stdout=out)
        self.assertRegex(out.getvalue(), r"reporting_daily_revenue +\| refreshed +\| (concurrently|plain)")
        self.assertNotIn(FUNNEL, out.getvalue())

    def test_refresh_of_an_unknown_view_fails_with_its_sqlstate(self):
        with self.assertRaisesRegex(CommandError, r"42P01"):
            call_command("reporting_refresh", "no_such_report", stdout=io.StringIO())

    def test_status_prints_sentences_and_overdue_views(self):
        call_command("reporting_refresh", stdout=io.StringIO())
        out = io.StringIO()
        call_command("reporting_status", stdout=out)
        self.assertRegex(out.getvalue(), r"reporting_daily_revenue: refreshed every 5 minutes")
        self.assertIn("overdue: none", out.getvalue())


class PausedScheduling(TransactionTestCase):
    def test_the_runner_paused_scheduling_in_the_test_database(self):
        """no scheduler refreshes reports behind the tests' back"""
        (paused,), = query("SELECT reporting.scheduling_paused_until() > now() + interval '1 hour'")
        self.assertTrue(paused)
        (running,), = query("SELECT count(*) FROM pg_stat_activity"
                            " WHERE backend_type = 'reporting scheduler' AND datname = current_database()")
        self.assertEqual(running, 0)

    def test_a_negative_pause_is_refused(self):
        with self.assertRaises(Exception) as caught:
            with connection.cursor() as cursor:
                cursor.execute("SET ROLE NONE")
                cursor.execute("SELECT reporting.pause_scheduling('-1 second')")
        self.assertEqual(caught.exception.__cause__.pgcode, "22023")


class ReversibleMigrations(TransactionTestCase):
    def migrate(self, target):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate([("sales", target)])

    def test_undoing_the_redefinition_restores_the_old_query_and_keeps_the_registration(self):
        call_command("reporting_refresh", stdout=io.StringIO())
        runs = query("SELECT count(*) FROM reporting.runs WHERE view = %s::regclass", [DAILY])
        try:
            self.migrate("0004_sales_90d")
            columns = query("SELECT count(*) FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0", [DAILY])
            self.assertEqual(columns, [(3,)])
            self.assertEqual(query("SELECT count(*) FROM reporting.runs WHERE view = %s::regclass", [DAILY]), runs)
            self.assertEqual(query("SELECT count(*) FROM reporting.registrations"), [(2,)])
        finally:
            self.migrate("0005_redefine_daily_revenue")
        self.assertEqual(query("SELECT count(*) FROM reporting.runs WHERE view = %s::regclass", [DAILY]), runs)

    def test_migrating_to_zero_and_back_needs_no_superuser(self):
        try:
            self.migrate(None)
            self.assertEqual(query("SELECT count(*) FROM reporting.registrations"), [(0,)])
            self.assertEqual(query("SELECT to_regclass('orders') IS NULL"), [(True,)])
        finally:
            self.migrate("0005_redefine_daily_revenue")
        self.assertEqual(query("SELECT count(*) FROM reporting.registrations"), [(2,)])
