-- The 90-day sales report: every day of the 90 ending today, days without
-- paid orders shown as 0, and the revenue of the 7 days ending each day.
--
-- It is a report built on another report: the per-day totals come from
-- reporting_daily_revenue (where the base_orders -> paid_orders stages of the
-- original query live), so it must be refreshed after that view; the
-- reporting extension refreshes registered views in that order.
--
-- "Today" is current_date when the view is refreshed, in the session's
-- TimeZone (see 0003): the 90-day window moves only when the view refreshes.
CREATE MATERIALIZED VIEW reporting_sales_90d AS
WITH daily_totals AS (
    SELECT day AS order_date,
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
       )::bigint AS rolling_7d_revenue_cents
  FROM series s
  LEFT JOIN daily_totals d ON d.order_date = s.day
 ORDER BY s.day;

-- Required for REFRESH MATERIALIZED VIEW CONCURRENTLY.
CREATE UNIQUE INDEX reporting_sales_90d_day_idx
    ON reporting_sales_90d (day);
