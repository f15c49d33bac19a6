-- Paid orders per day: the report behind the revenue chart.
--
-- Time zone: created_at::date is the day in the TimeZone of the session that
-- refreshes the view, as in the original query, so an order at 23:30 UTC
-- lands on the next day when Berlin's refresh runs it.  Pin one time zone
-- for every refresh (ALTER DATABASE app SET timezone = 'Europe/Berlin'), or
-- write the zone into the query: (created_at AT TIME ZONE 'Europe/Berlin')::date.
--
-- revenue_cents is bigint and never NULL: sum() of a NOT NULL column over a
-- non-empty group (GROUP BY yields no empty groups) is never NULL, and the
-- cast keeps cents as integers rather than sum(bigint)'s numeric.
CREATE MATERIALIZED VIEW reporting_daily_revenue AS
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

-- Required for REFRESH MATERIALIZED VIEW CONCURRENTLY, which keeps the chart
-- readable while the view refreshes; also the lookup index for a day.
CREATE UNIQUE INDEX reporting_daily_revenue_day_idx
    ON reporting_daily_revenue (day);
