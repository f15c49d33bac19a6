-- The 90-day sales report: every day appears, zero-filled, with a 7-day
-- rolling revenue over exactly 7 days.
BEGIN;
SET LOCAL timezone = 'UTC';
SELECT plan(9);

SELECT has_materialized_view('public', 'reporting_sales_90d', 'the 90-day sales report exists');
SELECT index_is_unique('public', 'reporting_sales_90d', 'reporting_sales_90d_day_idx',
    'its unique index on day allows REFRESH ... CONCURRENTLY');

-- revenue on 8 consecutive days: 1, 2, 4, ..., 128 (each day's bit tells
-- which days a rolling sum includes), plus unpaid noise and an old order
INSERT INTO orders (id, created_at, total_cents, status)
SELECT d, (current_date - 20 + d)::timestamptz + interval '12 hours', 1::bigint << (d - 1), 'paid'
  FROM generate_series(1, 8) d;
INSERT INTO orders (id, created_at, total_cents, status) VALUES
    (100, (current_date - 40)::timestamptz + interval '1 hour', 99999, 'failed'),
    (101, (current_date - 200)::timestamptz, 5000, 'paid');

REFRESH MATERIALIZED VIEW reporting_daily_revenue;
REFRESH MATERIALIZED VIEW reporting_sales_90d;

SELECT is((SELECT count(*)::int FROM reporting_sales_90d), 90, 'exactly 90 days');
SELECT is((SELECT max(day) FROM reporting_sales_90d), current_date, 'ending today');
SELECT is((SELECT count(DISTINCT day)::int FROM reporting_sales_90d WHERE day > current_date - 90), 90,
    'every day of the window appears once');
SELECT is((SELECT revenue_cents::bigint FROM reporting_sales_90d WHERE day = current_date - 30), 0::bigint,
    'days without orders appear with 0');
SELECT is((SELECT paid_order_count::int FROM reporting_sales_90d WHERE day = current_date - 40), 0,
    'a day with only a failed order counts 0 paid orders');
-- the 8th day's window is days 2..8: 2 + 4 + ... + 128 = 254, without day 1's 1
SELECT is((SELECT rolling_7d_revenue_cents::bigint FROM reporting_sales_90d WHERE day = current_date - 12),
    254::bigint, 'the rolling window covers exactly 7 days');
SELECT ok(NOT EXISTS (SELECT 1 FROM reporting_sales_90d
                       WHERE revenue_cents IS NULL OR rolling_7d_revenue_cents IS NULL),
    'revenue is never null');

SELECT * FROM finish();
ROLLBACK;
