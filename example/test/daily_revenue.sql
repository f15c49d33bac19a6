-- The daily revenue report (migration 0003): the essay's pgTAP test, and the
-- view's shape.  Runs against the schema only; everything rolls back.
BEGIN;
-- day boundaries follow the session's TimeZone: fix it for this test
SET LOCAL timezone = 'UTC';
SELECT plan(10);

-- Three arguments: pgTAP reads has_materialized_view('public',
-- 'reporting_daily_revenue') -- the essay's form -- as (view name,
-- description), so it looks for a materialized view named "public" and fails.
SELECT has_materialized_view('public', 'reporting_daily_revenue',
    'the daily revenue report exists as a materialized view');
SELECT index_is_unique('public', 'reporting_daily_revenue', 'reporting_daily_revenue_day_idx',
    'its unique index on day allows REFRESH ... CONCURRENTLY');
SELECT is_indexed('public', 'reporting_daily_revenue', ARRAY['day'],
    'the unique index is on day alone');
SELECT columns_are('public', 'reporting_daily_revenue', ARRAY['day', 'order_count', 'revenue_cents'],
    'it has the columns the chart and the Django model read');
SELECT col_type_is('public', 'reporting_daily_revenue', 'revenue_cents', 'bigint',
    'revenue is whole cents (bigint), not numeric');

-- start from no orders, whatever the database holds (rolled back at the end)
TRUNCATE orders;
INSERT INTO orders (id, created_at, total_cents, status) VALUES
    (1, '2025-01-01 10:00:00+00', 5000, 'paid'),
    (2, '2025-01-01 12:00:00+00', 2500, 'paid'),
    (3, '2025-01-01 14:00:00+00', 9000, 'failed'),
    (4, '2025-01-01 15:00:00+00', 1200, 'refunded'),
    (5, '2025-01-01 16:00:00+00', 700, 'pending'),
    (6, '2025-01-02 23:59:59+00', 100, 'paid'),
    (7, '2025-01-03 00:00:00+00', 40, 'paid'),
    (8, '2025-01-05 09:00:00+00', 300, 'failed');

REFRESH MATERIALIZED VIEW reporting_daily_revenue;

SELECT is((SELECT order_count::int FROM reporting_daily_revenue WHERE day = '2025-01-01'), 2,
    'counts only paid orders');
SELECT is((SELECT revenue_cents::bigint FROM reporting_daily_revenue WHERE day = '2025-01-01'), 7500::bigint,
    'sums paid revenue correctly');
SELECT ok(NOT EXISTS (SELECT 1 FROM reporting_daily_revenue WHERE revenue_cents IS NULL),
    'revenue_cents is never null');
SELECT results_eq(
    $$SELECT day, revenue_cents FROM reporting_daily_revenue WHERE day IN ('2025-01-02', '2025-01-03') ORDER BY day$$,
    $$VALUES ('2025-01-02'::date, 100::bigint), ('2025-01-03'::date, 40::bigint)$$,
    'an order at 23:59:59 counts for its day, one at midnight for the next');
SELECT is((SELECT count(*)::int FROM reporting_daily_revenue), 3,
    'days with only unpaid orders do not appear');
SELECT * FROM finish();
ROLLBACK;
