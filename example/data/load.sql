-- Load realistic data for the worked example: customers, and orders over
-- the two years ending today, with a growth trend.
--
--   psql -v orders=1000000 -f example/data/load.sql
--
-- orders defaults to 1000000, customers to orders / 20.  Deterministic for a
-- given scale (fixed random seed).  Prints progress as it goes.

\set ON_ERROR_STOP on
\if :{?orders}
\else
\set orders 1000000
\endif
\if :{?customers}
\else
SELECT greatest(:orders / 20, 1) AS customers \gset
\endif

CREATE PROCEDURE pg_temp.load_example(orders bigint, customers bigint, batch bigint DEFAULT 100000)
LANGUAGE plpgsql AS $$
DECLARE
    done bigint := 0;
    first_id bigint := coalesce((SELECT max(id) FROM public.orders), 0);
    n bigint;
BEGIN
    PERFORM setseed(0.42);
    INSERT INTO public.customers (id, name, region, created_at)
    SELECT g, 'Customer ' || g,
           (ARRAY['emea', 'amer', 'apac', 'latam'])[1 + (g % 4)],
           now() - interval '800 days' * random()
      FROM generate_series(coalesce((SELECT max(id) FROM public.customers), 0) + 1, customers) g;
    RAISE NOTICE 'loaded % customers', customers;
    COMMIT;

    WHILE done < orders LOOP
        n := least(batch, orders - done);
        INSERT INTO public.orders (id, customer_id, created_at, total_cents, status)
        SELECT first_id + done + g,
               1 + floor(random() * customers)::bigint,
               -- more orders recently: the business grew
               now() - interval '730 days' * (1 - sqrt(random())),
               least(50000, 500 + floor(-ln(1 - random()) * 4000))::bigint,
               CASE WHEN r < 0.80 THEN 'paid' WHEN r < 0.90 THEN 'pending'
                    WHEN r < 0.97 THEN 'failed' ELSE 'refunded' END
          FROM generate_series(1, n) g, LATERAL (SELECT random() + g * 0 AS r) s;
        done := done + n;
        COMMIT;
        RAISE NOTICE '%', format('loaded %s of %s orders (%s%%)', done, orders, round(100.0 * done / orders));
    END LOOP;
END
$$;

\echo loading :customers customers and :orders orders
CALL pg_temp.load_example(:orders, :customers);
\echo analyzing
ANALYZE customers;
ANALYZE orders;
