-- Hand the reports to the extension: how often each is refreshed, and in
-- which time zone a cron schedule is read.
--   daily revenue: every 5 minutes (an operational chart; minutes of lag are fine)
--   sales report:  daily at 00:05 Berlin time (yesterday's close)
SELECT reporting.register('reporting_daily_revenue', every => '5 minutes');
SELECT reporting.register('reporting_sales_90d', cron => '5 0 * * *', timezone => 'Europe/Berlin');
