-- The heavy report of the benchmark: per region and day, conditional
-- aggregates with FILTER, distinct buyers, a 30-day rolling revenue and a
-- rank per day, joining orders to customers.
CREATE MATERIALIZED VIEW reporting_region_daily AS
WITH daily AS (
    SELECT c.region,
           o.created_at::date AS day,
           count(*) FILTER (WHERE o.status = 'paid') AS paid_orders,
           count(*) FILTER (WHERE o.status = 'refunded') AS refunds,
           coalesce(sum(o.total_cents) FILTER (WHERE o.status = 'paid'), 0) AS revenue_cents,
           count(DISTINCT o.customer_id) FILTER (WHERE o.status = 'paid') AS buyers
      FROM orders o
      JOIN customers c ON c.id = o.customer_id
     GROUP BY c.region, o.created_at::date
)
SELECT region, day, paid_orders, refunds, revenue_cents, buyers,
       sum(revenue_cents) OVER (
           PARTITION BY region ORDER BY day
           RANGE BETWEEN interval '29 days' PRECEDING AND CURRENT ROW
       ) AS rolling_30d_revenue_cents,
       rank() OVER (PARTITION BY day ORDER BY revenue_cents DESC) AS rank_in_day
  FROM daily;

CREATE UNIQUE INDEX reporting_region_daily_key ON reporting_region_daily (region, day);

SELECT reporting.register('reporting_region_daily', every => '5 minutes', lock_timeout => '10 minutes');
