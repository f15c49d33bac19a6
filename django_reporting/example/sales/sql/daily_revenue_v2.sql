-- reporting_daily_revenue, second version: the average paid order of the
-- day as well.  Applied with reporting.redefine() (migration 0005): the
-- report keeps its registration, history, index and the sales funnel built
-- on it, and readers are not blocked while it is built.
WITH paid_orders AS (
    SELECT created_at::date AS day,
           total_cents
      FROM orders
     WHERE status = 'paid'
)
SELECT day,
       count(*) AS order_count,
       coalesce(sum(total_cents), 0)::bigint AS revenue_cents,
       (coalesce(sum(total_cents), 0) / count(*))::bigint AS average_order_cents
  FROM paid_orders
 GROUP BY day;
