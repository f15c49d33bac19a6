-- The incremental daily revenue report (migration 0006) and the sales
-- funnel built on it: the same numbers as the materialized views of 0003
-- and 0004, after a full and after an incremental refresh.  Everything
-- rolls back.
BEGIN;
SET LOCAL timezone = 'UTC';
SELECT plan(11);

SELECT has_table('public', 'reporting_daily_revenue_live',
    'the incremental daily revenue report is a table');
SELECT columns_are('public', 'reporting_daily_revenue_live', ARRAY['day', 'order_count', 'revenue_cents'],
    'it has the columns of the materialized view');
SELECT is((SELECT count(*)::int FROM reporting.incrementals
            WHERE report = 'reporting_daily_revenue_live'::regclass), 1,
    'it is an incremental report');

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
SELECT is((SELECT mode FROM reporting.refresh('reporting_daily_revenue_live')), 'full',
    'after TRUNCATE of orders the report is recomputed whole');
SELECT results_eq(
    $$SELECT day, order_count, revenue_cents FROM reporting_daily_revenue_live ORDER BY day$$,
    $$SELECT day, order_count, revenue_cents FROM reporting_daily_revenue ORDER BY day$$,
    'counts only paid orders and sums paid revenue, as the materialized view does');
SELECT is((SELECT revenue_cents FROM reporting_daily_revenue_live WHERE day = '2025-01-01'), 7500::bigint,
    'sums paid revenue correctly');

-- new orders today and yesterday, one paid order refunded, one deleted
INSERT INTO orders (id, created_at, total_cents, status) VALUES
    (9, now() - interval '1 day', 1000, 'paid'),
    (10, now(), 250, 'paid'),
    (11, now(), 999, 'pending');
UPDATE orders SET status = 'refunded' WHERE id = 2;
DELETE FROM orders WHERE id = 7;
REFRESH MATERIALIZED VIEW reporting_daily_revenue;
REFRESH MATERIALIZED VIEW reporting_sales_90d;
SELECT is((SELECT mode FROM reporting.refresh('reporting_daily_revenue_live')), 'incremental',
    'then only the days whose orders changed are recomputed');
-- (this transaction's own earlier writes count too: January 1 to 5 and
-- the two days touched now, not the 700 days a full recompute reads)
SELECT cmp_ok((SELECT last_buckets FROM reporting.incrementals
                WHERE report = 'reporting_daily_revenue_live'::regclass), '<=', 7::bigint,
    'only the days this transaction touched are recomputed');
SELECT results_eq(
    $$SELECT day, order_count, revenue_cents FROM reporting_daily_revenue_live ORDER BY day$$,
    $$SELECT day, order_count, revenue_cents FROM reporting_daily_revenue ORDER BY day$$,
    'the same numbers as the materialized view after the changes');
SELECT is_empty('SELECT * FROM reporting.verify(''reporting_daily_revenue_live'')',
    'verify() finds no difference from the query over all time');

REFRESH MATERIALIZED VIEW reporting_sales_90d_live;
SELECT results_eq(
    $$SELECT day, paid_order_count, revenue_cents, rolling_7d_revenue_cents FROM reporting_sales_90d_live ORDER BY day$$,
    $$SELECT day, paid_order_count, revenue_cents, rolling_7d_revenue_cents FROM reporting_sales_90d ORDER BY day$$,
    'the sales funnel built on it shows the same numbers as the one built on the materialized view');
SELECT * FROM finish();
ROLLBACK;
