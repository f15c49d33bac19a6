-- Forget the incremental daily revenue report and the funnel built on it.
SELECT reporting.unregister('reporting_sales_90d_live');
DROP MATERIALIZED VIEW reporting_sales_90d_live;
SELECT reporting.unregister('reporting_daily_revenue_live');
DROP TABLE reporting_daily_revenue_live;
