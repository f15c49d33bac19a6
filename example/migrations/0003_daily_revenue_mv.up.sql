-- Paid orders per day: the report behind the revenue chart.
--
-- created_at::date is the day in the session's TimeZone, as in the original
-- query; a team with customers in one time zone may prefer
-- (created_at AT TIME ZONE 'Europe/Berlin')::date.
CREATE MATERIALIZED VIEW reporting_daily_revenue AS
WITH paid_orders AS (
    SELECT created_at::date AS day,
           total_cents
      FROM orders
     WHERE status = 'paid'
)
SELECT day,
       count(*) AS order_count,
       sum(total_cents) AS revenue_cents
  FROM paid_orders
 GROUP BY day;

-- Required for REFRESH MATERIALIZED VIEW CONCURRENTLY, which keeps the chart
-- readable while it refreshes.
CREATE UNIQUE INDEX reporting_daily_revenue_day_idx
    ON reporting_daily_revenue (day);
