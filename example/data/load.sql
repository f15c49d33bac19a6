-- Realistic data for the worked example: customers, and their orders over
-- the two years ending now.  Apply the migrations first, then:
--
--   psql -v orders=1000000 -v customers=50000 -f example/data/load.sql
--   psql -v orders=20000000 -v days=2920 -f example/data/load.sql
--
-- orders defaults to 1000000, customers to orders / 20, days to 730 (two
-- years: the N days ending today, today included).  Any number of orders is
-- spread over the same days, so a larger scale means more orders a day; to
-- compare scales at one daily volume, give days in proportion to orders
-- (5000000 orders over 730 days is about 6,850 a day: 1000000 over 146 days,
-- 20000000 over 2920 days have the same).  The data:
--   - the business grows: three times as many orders a day now as on the
--     first day;
--   - weekdays are busier than weekends (Saturday 60%, Sunday 40% of a weekday),
--     and most orders come around midday;
--   - status: about 80% paid, 10% pending, 7% failed, 3% refunded;
--   - totals are skewed: mostly small baskets, a long tail, 5 to 50000 cents;
--   - customers sign up steadily over the period, and an order's customer had
--     signed up before it; early customers have had more time to order;
--   - orders are written in the order they were placed, as a shop writes
--     them: ids, and the table's physical order, follow created_at (within
--     a batch; the day two batches share has both batches' ids).  A report
--     over the last day then reads that day's pages, not one page per order.
-- The random draws are seeded (setseed): a given scale always loads the same
-- totals and statuses and the same shape; dates are relative to the moment it
-- runs, so which day an order falls on can differ between runs.  Midday is in
-- the loading session's TimeZone.  Orders are added after those already in
-- the table (ids continue from the highest).
--
-- It loads in batches of 100000 orders, committing and reporting each:
--   NOTICE:  loaded 300000 of 1000000 orders (30%)

\set ON_ERROR_STOP on
\if :{?orders}
\else
\set orders 1000000
\endif
\if :{?days}
\set span :days' days'
\else
\set days 730
\set span 'the two years'
\endif
\if :{?customers}
\else
SELECT greatest(:orders / 20, 1) AS customers \gset
\endif

-- A procedure, so that it can COMMIT per batch: progress is visible (and
-- kept) while it runs, and no single transaction holds a million new rows.
CREATE PROCEDURE pg_temp.load_example(n_orders bigint, n_customers bigint, n_days integer DEFAULT 730,
                                       batch bigint DEFAULT 100000)
LANGUAGE plpgsql AS $$
DECLARE
    -- fixed at the start: now() and current_date move at every COMMIT
    load_end       timestamptz := now();
    today          date := current_date;
    first_day      date := current_date - (n_days - 1);
    -- the days from the first to today, as numeric(10,1): with 730 days the
    -- literal 729.0 of the original formula, scale included, so the weights
    -- (and the random days drawn from them) are the same to the last digit
    span_days      numeric := greatest(n_days - 1, 1)::numeric(10, 1);
    -- the share of a day's orders placed by now: the time of day has a
    -- triangular distribution peaking at noon, F(s) = 2s^2 up to noon
    day_elapsed    float8 := extract(epoch FROM now() - current_date::timestamptz) / 86400;
    today_share    float8 := CASE WHEN day_elapsed <= 0.5 THEN 2 * day_elapsed ^ 2
                                  ELSE 1 - 2 * (1 - least(day_elapsed, 1)) ^ 2 END;
    -- the days, and the share of all orders placed before each (for width_bucket)
    days           date[];
    day_starts     float8[];
    -- customers sign up evenly from a month before the first order until now
    signups_from   timestamptz := now() - make_interval(days => n_days + 30);
    signup_seconds float8 := extract(epoch FROM make_interval(days => n_days + 30));
    first_order_id bigint := coalesce((SELECT max(id) FROM public.orders), 0);
    done           bigint := 0;
    n              bigint;
BEGIN
    IF n_orders < 1 OR n_customers < 1 THEN
        RAISE EXCEPTION 'orders and customers must be at least 1, not % and %', n_orders, n_customers;
    END IF;
    IF n_days < 1 THEN
        RAISE EXCEPTION 'days must be at least 1, not %', n_days;
    END IF;
    PERFORM setseed(0.42);

    -- Each day's weight: the business grows (three times the orders a day at
    -- the end as at the start), weekends are quieter (Saturday 0.6, Sunday
    -- 0.4 of a weekday), and today counts only the part already past.
    SELECT array_agg(day ORDER BY day),
           array_agg((before / total)::float8 ORDER BY day)
      INTO days, day_starts
      FROM (SELECT day,
                   sum(weight) OVER (ORDER BY day) - weight AS before,
                   sum(weight) OVER () AS total
              FROM (SELECT day::date AS day,
                           (1 + 2 * (day::date - first_day) / span_days)
                           * CASE extract(isodow FROM day) WHEN 6 THEN 0.6 WHEN 7 THEN 0.4 ELSE 1 END
                           * CASE WHEN day = today THEN today_share::numeric ELSE 1 END AS weight
                      FROM generate_series(first_day, today, interval '1 day') day) weighted) cumulative;

    INSERT INTO public.customers (id, name, region, created_at)
    SELECT g,
           'Customer ' || g,
           (ARRAY['emea', 'amer', 'apac', 'latam'])[1 + (g % 4)],
           signups_from + make_interval(days => n_days + 30) * ((g - 1)::float8 / n_customers)
      FROM generate_series(coalesce((SELECT max(id) FROM public.customers), 0) + 1, n_customers) g;
    GET DIAGNOSTICS n = ROW_COUNT;
    COMMIT;
    RAISE NOTICE 'loaded % customers', n;

    WHILE done < n_orders LOOP
        n := least(batch, n_orders - done);
        INSERT INTO public.orders (id, customer_id, created_at, total_cents, status)
        SELECT first_order_id + done + row_number() OVER (ORDER BY created_at, g),
               -- a customer who had signed up by then
               1 + floor(u_customer * greatest(1, least(n_customers,
                     floor(n_customers * extract(epoch FROM created_at - signups_from) / signup_seconds))))::bigint,
               created_at,
               total_cents,
               status
          FROM (
            SELECT g, u_customer, total_cents, status,
                   -- the time of day: the inverse of F, within the part of
                   -- today already past; never after now (DST days)
                   least(load_end,
                         (day + interval '1 day' * CASE WHEN v <= 0.5 THEN sqrt(v / 2)
                                                        ELSE 1 - sqrt((1 - v) / 2) END)::timestamptz
                   ) AS created_at
              FROM (
                SELECT g, u_customer, day,
                       u_time * CASE WHEN day = today THEN today_share ELSE 1 END AS v,
                       -- exponential with mean 4000 cents, within 5 to 50000
                       least(50000, 5 + floor(-ln(1 - u_total) * 4000))::bigint AS total_cents,
                       CASE WHEN u_status < 0.80 THEN 'paid'
                            WHEN u_status < 0.90 THEN 'pending'
                            WHEN u_status < 0.97 THEN 'failed'
                            ELSE 'refunded'
                       END AS status
                  FROM (
                    -- every random draw of an order, in a fixed order; the
                    -- day by the days' weights, stratified: the k-th order
                    -- of the load falls in the k-th n_orders-quantile, so
                    -- that orders are written in the order they were placed
                    SELECT g,
                           days[width_bucket((done + g - 1 + u_day) / n_orders, day_starts)] AS day,
                           u_time, u_total, u_status, u_customer
                      FROM (SELECT g, random() AS u_day, random() AS u_time, random() AS u_total,
                                   random() AS u_status, random() AS u_customer
                              FROM generate_series(1, n) g) draws
                  ) dated
              ) drawn
          ) placed
         ORDER BY created_at, g;
        done := done + n;
        COMMIT;
        RAISE NOTICE '%', format('loaded %s of %s orders (%s%%)', done, n_orders, floor(100.0 * done / n_orders));
    END LOOP;
END
$$;

\echo loading :customers customers and :orders orders over :span ending today
CALL pg_temp.load_example(:orders, :customers, :days);
\echo analyzing
ANALYZE customers;
ANALYZE orders;
