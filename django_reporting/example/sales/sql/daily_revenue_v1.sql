-- The first query of reporting_daily_revenue (example/migrations/0003_daily_revenue_mv.up.sql),
-- to go back to when 0005 is undone.
WITH paid_orders AS (
    SELECT created_at::date AS day,
           total_cents
      FROM orders
     WHERE status = 'paid'
)
SELECT day,
       count(*) AS order_count,
       coalesce(sum(total_cents), 0)::bigint AS revenue_cents
  FROM paid_orders
 GROUP BY day;
