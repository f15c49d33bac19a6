-- The daily revenue report kept incrementally (issue 14): a table the
-- reporting extension keeps equal to the query below, recomputing only the
-- days whose orders changed, instead of re-reading two years of orders at
-- every refresh.  $1 and $2 are the half-open range of orders.created_at
-- being recomputed.  The day is the UTC day, written into the query (an
-- incremental report's buckets start at midnight in its time_zone).
SELECT reporting.create_incremental('reporting_daily_revenue_live', $q$
    SELECT (o.created_at AT TIME ZONE 'UTC')::date AS day,
           count(*) AS order_count,
           sum(o.total_cents)::bigint AS revenue_cents
      FROM public.orders o
     WHERE o.status = 'paid'
       AND o.created_at >= $1 AND o.created_at < $2
     GROUP BY 1 $q$,
    time_column => 'orders.created_at',
    bucket_column => 'day',
    bucket_width => '1 day',
    time_zone => 'UTC',
    every => '1 minute');

-- The sales funnel on top of it: a plain materialized view, refreshed after
-- the incremental report by refresh_all() and the scheduler (dependency
-- order), the same shape as reporting_sales_90d (migration 0004), with its
-- days in UTC.
CREATE MATERIALIZED VIEW reporting_sales_90d_live AS
WITH today AS (
    SELECT (now() AT TIME ZONE 'UTC')::date AS day
),
series AS (
    SELECT generate_series(t.day - 89, t.day, interval '1 day')::date AS day FROM today t
)
SELECT s.day,
       coalesce(d.order_count, 0) AS paid_order_count,
       coalesce(d.revenue_cents, 0) AS revenue_cents,
       sum(coalesce(d.revenue_cents, 0)) OVER (
           ORDER BY s.day
           ROWS BETWEEN 6 PRECEDING AND CURRENT ROW
       )::bigint AS rolling_7d_revenue_cents
  FROM series s
  LEFT JOIN reporting_daily_revenue_live d ON d.day = s.day
 ORDER BY s.day;

CREATE UNIQUE INDEX reporting_sales_90d_live_day_idx
    ON reporting_sales_90d_live (day);

SELECT reporting.register('reporting_sales_90d_live', every => '5 minutes');
