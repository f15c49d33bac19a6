-- Migration 0005 hands both reports to the reporting extension: the
-- schedules it registers, and the order the extension refreshes them in
-- (the sales report is built on the daily revenue report).
BEGIN;
-- day boundaries follow the session's TimeZone: fix it for this test
SET LOCAL timezone = 'UTC';
SELECT plan(5);

SELECT results_eq(
    $$SELECT every, cron, timezone FROM reporting.registrations
       WHERE view = 'reporting_daily_revenue'::regclass$$,
    $$VALUES (interval '5 minutes', NULL::text, NULL::text)$$,
    'the daily revenue report is refreshed every 5 minutes');
SELECT results_eq(
    $$SELECT every, cron, timezone FROM reporting.registrations
       WHERE view = 'reporting_sales_90d'::regclass$$,
    $$VALUES (NULL::interval, '5 0 * * *'::text, 'Europe/Berlin'::text)$$,
    'the sales report is refreshed daily at 00:05 Berlin time');
SELECT ok(EXISTS (SELECT 1 FROM reporting.sources
                   WHERE view = 'reporting_sales_90d'::regclass
                     AND source = 'reporting_daily_revenue'::regclass
                     AND registered_upstream),
    'the extension sees the sales report is built on the registered daily revenue report');

-- start from no orders, whatever the database holds (rolled back at the end)
TRUNCATE orders;
INSERT INTO orders (id, created_at, total_cents, status) VALUES (1, now(), 4200, 'paid');
SELECT results_eq(
    $$SELECT view::text, status FROM reporting.refresh_all()
       WHERE view IN ('reporting_daily_revenue'::regclass, 'reporting_sales_90d'::regclass)$$,
    $$VALUES ('reporting_daily_revenue', 'refreshed'), ('reporting_sales_90d', 'refreshed')$$,
    'refresh_all refreshes the daily revenue report first, then the sales report');
SELECT is((SELECT revenue_cents::bigint FROM reporting_sales_90d WHERE day = current_date), 4200::bigint,
    'after refresh_all the sales report shows today''s paid order');

SELECT * FROM finish();
ROLLBACK;
