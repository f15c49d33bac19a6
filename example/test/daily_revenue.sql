-- The daily revenue report: the essay's pgTAP test, and the view's shape.
BEGIN;
SET LOCAL timezone = 'UTC';
SELECT plan(8);

SELECT has_materialized_view('public', 'reporting_daily_revenue', 'the daily revenue view exists');
SELECT index_is_unique('public', 'reporting_daily_revenue', 'reporting_daily_revenue_day_idx',
    'its unique index on day allows REFRESH ... CONCURRENTLY');
SELECT columns_are('public', 'reporting_daily_revenue', ARRAY['day', 'order_count', 'revenue_cents'],
    'it has the columns the chart reads');

INSERT INTO orders (id, created_at, total_cents, status) VALUES
    (1, '2025-01-01 10:00:00+00', 5000, 'paid'),
    (2, '2025-01-01 12:00:00+00', 2500, 'paid'),
    (3, '2025-01-01 14:00:00+00', 9000, 'failed'),
    (4, '2025-01-01 15:00:00+00', 1200, 'refunded'),
    (5, '2025-01-01 16:00:00+00', 700, 'pending'),
    (6, '2025-01-02 23:59:59+00', 100, 'paid');

REFRESH MATERIALIZED VIEW reporting_daily_revenue;

SELECT is((SELECT order_count::int FROM reporting_daily_revenue WHERE day = '2025-01-01'), 2,
    'counts only paid orders');
SELECT is((SELECT revenue_cents::bigint FROM reporting_daily_revenue WHERE day = '2025-01-01'), 7500::bigint,
    'sums paid revenue correctly');
SELECT ok(NOT EXISTS (SELECT 1 FROM reporting_daily_revenue WHERE revenue_cents IS NULL),
    'revenue_cents is never null');
SELECT is((SELECT revenue_cents::bigint FROM reporting_daily_revenue WHERE day = '2025-01-02'), 100::bigint,
    'an order at 23:59:59 counts for its own day');
SELECT is((SELECT count(*)::int FROM reporting_daily_revenue), 2,
    'days with only unpaid orders do not appear');

SELECT * FROM finish();
ROLLBACK;
