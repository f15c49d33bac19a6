-- The example's reports are registered with the extension as the
-- migration says, and the extension refreshes them in dependency order.
BEGIN;
SELECT plan(5);

SELECT is((SELECT every FROM reporting.registrations WHERE view = 'reporting_daily_revenue'::regclass),
    interval '5 minutes', 'the daily revenue report is refreshed every 5 minutes');
SELECT is((SELECT schedule FROM reporting.status WHERE view = 'reporting_sales_90d'::regclass),
    'daily at 00:05 Europe/Berlin', 'the sales report is refreshed daily at 00:05 Berlin time');
SELECT is((SELECT upstream FROM reporting._refresh_plan() WHERE view = 'reporting_sales_90d'::regclass),
    ARRAY['reporting_daily_revenue'::regclass], 'the sales report is built on the daily revenue report');

INSERT INTO orders (id, created_at, total_cents, status) VALUES (1, now(), 4200, 'paid');
SELECT results_eq(
    $$SELECT view::text, status FROM reporting.refresh_all()$$,
    $$VALUES ('reporting_daily_revenue', 'refreshed'), ('reporting_sales_90d', 'refreshed')$$,
    'refresh_all refreshes the daily revenue report first, then the sales report');
SELECT is((SELECT revenue_cents::bigint FROM reporting_sales_90d WHERE day = current_date), 4200::bigint,
    'the sales report shows today''s paid order after refresh_all');

SELECT * FROM finish();
ROLLBACK;
