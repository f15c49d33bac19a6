-- The 90-day sales report (migration 0004): every day of the 90 ending
-- today appears, zero-filled, with a 7-day rolling revenue over exactly 7
-- days, from paid orders only.  Dates are relative to current_date, which
-- stays the same for the whole transaction (it is the transaction's start).
BEGIN;
-- day boundaries follow the session's TimeZone: fix it for this test
SET LOCAL timezone = 'UTC';
SELECT plan(14);

SELECT has_materialized_view('public', 'reporting_sales_90d',
    'the 90-day sales report exists as a materialized view');
SELECT index_is_unique('public', 'reporting_sales_90d', 'reporting_sales_90d_day_idx',
    'its unique index on day allows REFRESH ... CONCURRENTLY');
SELECT columns_are('public', 'reporting_sales_90d',
    ARRAY['day', 'paid_order_count', 'revenue_cents', 'rolling_7d_revenue_cents'],
    'it has the columns the dashboard reads');

-- start from no orders, whatever the database holds (rolled back at the end)
TRUNCATE orders;
-- paid revenue on 8 consecutive days, 19 to 12 days ago: 1, 2, 4, ..., 128
-- cents, so a sum's bits tell which days it includes
INSERT INTO orders (id, created_at, total_cents, status)
SELECT d, (current_date - 20 + d)::timestamptz + interval '12 hours', 1::bigint << (d - 1), 'paid'
  FROM generate_series(1, 8) d;
INSERT INTO orders (id, created_at, total_cents, status) VALUES
    -- unpaid orders inside the window
    (100, (current_date - 40)::timestamptz + interval '1 hour', 99999, 'failed'),
    (101, (current_date - 15)::timestamptz + interval '2 hours', 10000, 'pending'),
    (102, (current_date - 14)::timestamptz + interval '3 hours', 20000, 'refunded'),
    -- the first day of the window, and the day before it
    (103, (current_date - 89)::timestamptz, 512, 'paid'),
    (104, (current_date - 90)::timestamptz + interval '23 hours 59 minutes', 1024, 'paid'),
    -- long before the window
    (105, (current_date - 200)::timestamptz, 5000, 'paid');

-- a report built on another report: refresh in dependency order
REFRESH MATERIALIZED VIEW reporting_daily_revenue;
REFRESH MATERIALIZED VIEW reporting_sales_90d;

SELECT is((SELECT count(*)::int FROM reporting_sales_90d), 90,
    'exactly 90 rows');
SELECT is((SELECT count(DISTINCT day)::int FROM reporting_sales_90d), 90,
    'one row per day');
SELECT is((SELECT max(day) FROM reporting_sales_90d), current_date,
    'the report ends today');
SELECT is((SELECT min(day) FROM reporting_sales_90d), current_date - 89,
    'the report starts 89 days before today');
SELECT results_eq(
    $$SELECT paid_order_count, revenue_cents FROM reporting_sales_90d WHERE day = current_date - 30$$,
    $$VALUES (0::bigint, 0::bigint)$$,
    'days without orders appear with 0');
SELECT results_eq(
    $$SELECT paid_order_count, revenue_cents FROM reporting_sales_90d WHERE day = current_date - 40$$,
    $$VALUES (0::bigint, 0::bigint)$$,
    'a day with only a failed order counts no orders and no revenue');
SELECT is((SELECT sum(revenue_cents)::bigint FROM reporting_sales_90d), (255 + 512)::bigint,
    'reads paid orders inside the window only');
SELECT results_eq(
    $$SELECT paid_order_count, revenue_cents FROM reporting_sales_90d WHERE day = current_date - 15$$,
    $$VALUES (1::bigint, 16::bigint)$$,
    'a pending order does not add to a day with a paid one');
-- the window ending on the 8th day covers days 2..8: 2 + 4 + ... + 128 = 254,
-- without the 8th-oldest day's 1
SELECT is((SELECT rolling_7d_revenue_cents::bigint FROM reporting_sales_90d WHERE day = current_date - 12),
    254::bigint, 'the rolling window covers exactly 7 days');
SELECT is((SELECT rolling_7d_revenue_cents::bigint FROM reporting_sales_90d WHERE day = current_date - 89),
    512::bigint, 'the first day''s rolling revenue does not reach before the window');
SELECT ok(NOT EXISTS (SELECT 1 FROM reporting_sales_90d
                       WHERE revenue_cents IS NULL OR rolling_7d_revenue_cents IS NULL),
    'revenue and rolling revenue are never null');

SELECT * FROM finish();
ROLLBACK;
