-- reporting.register / reporting.unregister: storing registrations and
-- refusing every kind of bad input with the right SQLSTATE, leaving nothing
-- half-registered.

-- Runs a statement and shows its SQLSTATE, message and hint, so that the
-- expected output pins the error code as well as the text.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text; msg text; hint text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN state || ': ' || msg || CASE WHEN hint <> '' THEN ' (hint: ' || hint || ')' ELSE '' END;
END $$;

CREATE TABLE orders (id int PRIMARY KEY, day date NOT NULL, total_cents bigint NOT NULL, status text NOT NULL);
INSERT INTO orders SELECT g, date '2025-01-01' + g % 10, g * 100, CASE WHEN g % 4 = 0 THEN 'failed' ELSE 'paid' END
  FROM generate_series(1, 200) g;
CREATE MATERIALIZED VIEW daily AS
  SELECT day, count(*) AS order_count, sum(total_cents) AS revenue_cents FROM orders WHERE status = 'paid' GROUP BY day;
CREATE UNIQUE INDEX daily_day_idx ON daily (day);
CREATE VIEW paid_orders AS SELECT * FROM orders WHERE status = 'paid';
CREATE MATERIALIZED VIEW no_key AS SELECT count(*) AS n FROM orders;

-- registering: defaults, then an update (registering twice is not an error)
SELECT reporting.register('daily');
SELECT view, every, cron, timezone, mode, refresh_when, max_age, lock_timeout, statement_timeout
  FROM reporting.registrations;
SELECT reporting.register('daily', every => '5 minutes', mode => 'concurrently',
                          refresh_when => 'always', max_age => '1 hour',
                          lock_timeout => '2 seconds', statement_timeout => '10 minutes');
SELECT view, every, cron, timezone, mode, refresh_when, max_age, lock_timeout, statement_timeout
  FROM reporting.registrations;
SELECT reporting.register('daily', cron => '5 0 * * *', timezone => 'Europe/Berlin');
SELECT view, every, cron, timezone, mode, refresh_when FROM reporting.registrations;
SELECT count(*) AS registrations FROM reporting.registrations;

-- a view without a usable unique index: registered, with a notice
SELECT reporting.register('no_key');

-- unknown relation
SELECT pg_temp.try($$SELECT reporting.register('no_such_view')$$);
SELECT pg_temp.try($$SELECT reporting.register(1::oid::regclass)$$);
-- a table or a plain view where a materialized view is needed
SELECT pg_temp.try($$SELECT reporting.register('orders')$$);
SELECT pg_temp.try($$SELECT reporting.register('paid_orders')$$);
-- NULL where a value is required
SELECT pg_temp.try($$SELECT reporting.register(NULL)$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', mode => NULL)$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', refresh_when => NULL)$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', lock_timeout => NULL)$$);
-- zero or negative intervals
SELECT pg_temp.try($$SELECT reporting.register('daily', every => '0 seconds')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', every => '-5 minutes')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', every => '500 milliseconds')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', every => '1 month')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', max_age => '0')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', max_age => '-1 hour')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', lock_timeout => '0')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', lock_timeout => '-1 second')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', statement_timeout => '0')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', statement_timeout => '1 day -25 hours')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', statement_timeout => '100 days')$$);
-- unknown mode or refresh_when
SELECT pg_temp.try($$SELECT reporting.register('daily', mode => 'fast')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', mode => 'AUTO')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', refresh_when => 'sometimes')$$);
-- both every and cron; a timezone without cron; unknown timezone
SELECT pg_temp.try($$SELECT reporting.register('daily', every => '5 minutes', cron => '*/5 * * * *')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', every => '5 minutes', timezone => 'UTC')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', cron => '5 0 * * *', timezone => 'Mars/Olympus_Mons')$$);
SELECT pg_temp.try($$SELECT reporting.register('daily', cron => '5 0 * * *', timezone => '')$$);
-- concurrently on a view that cannot be refreshed so
SELECT pg_temp.try($$SELECT reporting.register('no_key', mode => 'concurrently')$$);

-- none of the failures above changed anything
SELECT view, every, cron, timezone, mode, refresh_when, max_age, lock_timeout, statement_timeout
  FROM reporting.registrations ORDER BY view::text COLLATE "C";

-- unregistering
SELECT reporting.unregister('no_key');
SELECT pg_temp.try($$SELECT reporting.unregister('no_key')$$);
SELECT pg_temp.try($$SELECT reporting.unregister('orders')$$);
SELECT pg_temp.try($$SELECT reporting.unregister(NULL)$$);
SELECT view FROM reporting.registrations;

-- a unique key with NULLs warns: every concurrent refresh rewrites those rows
CREATE MATERIALIZED VIEW by_status AS
  SELECT CASE WHEN status = 'paid' THEN status END AS status, count(*) AS n FROM orders GROUP BY 1;
CREATE UNIQUE INDEX by_status_idx ON by_status (status);
SELECT reporting.register('by_status');
-- registered plain: nothing to warn about
SELECT reporting.register('by_status', mode => 'plain');

-- names with quotes, spaces, capitals and $ work
CREATE MATERIALIZED VIEW "Revenue $ ""Q1"" report" AS SELECT 1 AS k;
CREATE UNIQUE INDEX ON "Revenue $ ""Q1"" report" (k);
SELECT reporting.register('"Revenue $ ""Q1"" report"', every => '1 hour');
SELECT view FROM reporting.registrations ORDER BY view::text COLLATE "C";

-- dropping a registered view removes its registration and its history
SELECT mode FROM reporting.refresh('"Revenue $ ""Q1"" report"');
DROP MATERIALIZED VIEW "Revenue $ ""Q1"" report";
SELECT view FROM reporting.registrations ORDER BY view::text COLLATE "C";
SELECT count(*) AS runs_left FROM reporting.runs;

-- dropping a source with CASCADE takes the views and their registrations
SET client_min_messages = warning;
DROP TABLE orders CASCADE;
SELECT count(*) AS registrations FROM reporting.registrations;
SELECT * FROM reporting.refresh_all();

-- schedule intervals are bounded so that the next refresh is always a
-- timestamp (a huge one would stop the scheduler of the whole database)
CREATE MATERIALIZED VIEW bounded AS SELECT 1 AS k;
CREATE UNIQUE INDEX ON bounded (k);
SELECT pg_temp.try($$SELECT reporting.register('bounded', every => '2147483647 days')$$);
SELECT pg_temp.try($$SELECT reporting.register('bounded', every => '40000 days')$$);
SELECT pg_temp.try($$SELECT reporting.register('bounded', max_age => '178000000 years')$$);
-- a max_age longer than 24.8 days is fine (it is no timeout setting)
SELECT pg_temp.try($$SELECT reporting.register('bounded', every => '1 day', max_age => '90 days')$$);
SELECT max_age FROM reporting.registrations WHERE view = 'bounded'::regclass;
SELECT count(*) AS status_rows FROM reporting.status WHERE view = 'bounded'::regclass;
DROP MATERIALIZED VIEW bounded;
