-- The 90-day sales report: every day of the last 90, days without orders
-- shown as 0, and a 7-day rolling revenue.  Built on the daily revenue
-- report, so it is refreshed after it.
CREATE MATERIALIZED VIEW reporting_sales_90d AS
WITH daily_totals AS (
    SELECT day,
           order_count AS paid_order_count,
           revenue_cents
      FROM reporting_daily_revenue
     WHERE day >= current_date - 89
),
series AS (
    SELECT generate_series(
               current_date - interval '89 days',
               current_date,
               interval '1 day'
           )::date AS day
)
SELECT s.day,
       coalesce(d.paid_order_count, 0) AS paid_order_count,
       coalesce(d.revenue_cents, 0) AS revenue_cents,
       sum(coalesce(d.revenue_cents, 0)) OVER (
           ORDER BY s.day
           ROWS BETWEEN 6 PRECEDING AND CURRENT ROW
       ) AS rolling_7d_revenue_cents
  FROM series s
  LEFT JOIN daily_totals d ON d.day = s.day
 ORDER BY s.day;

CREATE UNIQUE INDEX reporting_sales_90d_day_idx ON reporting_sales_90d (day);
