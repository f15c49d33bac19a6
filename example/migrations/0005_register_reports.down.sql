SELECT reporting.unregister('reporting_sales_90d');
SELECT reporting.unregister('reporting_daily_revenue');
