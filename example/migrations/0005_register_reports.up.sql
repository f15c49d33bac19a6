-- Hand the reports to the extension: how often, and in which time zone.
SELECT reporting.register('reporting_daily_revenue', every => '5 minutes');
SELECT reporting.register('reporting_sales_90d', cron => '5 0 * * *', timezone => 'Europe/Berlin');
