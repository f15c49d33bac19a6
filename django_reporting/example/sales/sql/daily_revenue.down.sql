DROP MATERIALIZED VIEW reporting_daily_revenue;
