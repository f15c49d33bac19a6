-- Forget the registrations (and their refresh history); the views stay.
SELECT reporting.unregister('reporting_sales_90d');
SELECT reporting.unregister('reporting_daily_revenue');
