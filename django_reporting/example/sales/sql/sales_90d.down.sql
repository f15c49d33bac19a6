DROP MATERIALIZED VIEW reporting_sales_90d;
