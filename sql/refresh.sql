-- reporting.refresh and reporting.refresh_all: modes, dependency order,
-- failures isolated in subtransactions, timeouts, and the history in
-- reporting.runs.

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

-- daily <- weekly (built on daily) <- summary (built on weekly, through a plain view)
CREATE MATERIALIZED VIEW daily AS
  SELECT day, count(*) AS order_count, sum(total_cents) AS revenue_cents FROM orders WHERE status = 'paid' GROUP BY day
  WITH NO DATA;
CREATE UNIQUE INDEX ON daily (day);
CREATE MATERIALIZED VIEW weekly AS
  SELECT date_trunc('week', day)::date AS week, sum(revenue_cents) AS revenue_cents FROM daily GROUP BY 1
  WITH NO DATA;
CREATE VIEW weekly_view AS SELECT * FROM weekly;
CREATE MATERIALIZED VIEW summary AS SELECT count(*) AS weeks, sum(revenue_cents) AS revenue_cents FROM weekly_view
  WITH NO DATA;
CREATE MATERIALIZED VIEW aaa_independent AS SELECT count(*) AS n FROM orders WITH NO DATA;

-- registered in an order unrelated to their dependencies; refresh_when
-- 'always' so that refresh_all refreshes them whether or not their sources
-- changed (skipping is tested in tracking.sql)
SELECT reporting.register('summary', refresh_when => 'always');
SELECT reporting.register('weekly', mode => 'plain', refresh_when => 'always');
SELECT reporting.register('daily', refresh_when => 'always');
SELECT reporting.register('aaa_independent', refresh_when => 'always');

-- refresh(): unregistered, not a matview, NULLs, bad mode
CREATE MATERIALIZED VIEW unregistered AS SELECT 1 AS k;
SELECT pg_temp.try($$SELECT reporting.refresh('unregistered')$$);
SELECT pg_temp.try($$SELECT reporting.refresh('orders')$$);
SELECT pg_temp.try($$SELECT reporting.refresh(NULL)$$);
SELECT pg_temp.try($$SELECT reporting.refresh('daily', NULL)$$);
SELECT pg_temp.try($$SELECT reporting.refresh('daily', 'quick')$$);

-- concurrently on a never-populated view: its first refresh is plain, and says so
SELECT mode, rows FROM reporting.refresh('daily', 'concurrently');
SELECT mode, rows FROM reporting.runs WHERE view = 'daily'::regclass;
-- auto on a never-populated view falls back to plain
REFRESH MATERIALIZED VIEW daily WITH NO DATA;
SELECT mode, rows FROM reporting.refresh('daily');
-- now populated with a unique index: auto uses CONCURRENTLY
SELECT mode, rows FROM reporting.refresh('daily');
SELECT mode, rows FROM reporting.refresh('daily', 'plain');
SELECT mode, rows FROM reporting.refresh('daily', 'concurrently');
-- rows counts what the refresh wrote: a concurrent refresh that adds a day
INSERT INTO orders VALUES (500, '2025-02-01', 100, 'paid');
SELECT mode, rows FROM reporting.refresh('daily', 'concurrently');
DELETE FROM orders WHERE id = 500;
SELECT mode, rows FROM reporting.refresh('daily', 'concurrently');
-- rows is REFRESH's own count: the view is not read again to count them
-- (only the rebuild of its unique index scans it); earlier counts are
-- flushed first, so that the transaction's own are read
SELECT pg_stat_force_next_flush();
BEGIN;
SELECT mode, rows FROM reporting.refresh('daily', 'plain');
SELECT pg_stat_get_xact_numscans('daily'::regclass) AS scans_of_daily,
       pg_stat_get_xact_tuples_returned('daily'::regclass) AS rows_read_from_daily;
ROLLBACK;
-- registered plain: auto follows the registration
SELECT mode, rows FROM reporting.refresh('weekly');
-- no unique index: concurrently is refused with a hint
SELECT pg_temp.try($$SELECT reporting.refresh('weekly', 'concurrently')$$);
SELECT duration >= interval '0' AS has_duration FROM reporting.refresh('summary');

-- the history: one row per run, what started it, who asked
SELECT view, origin, status, mode, rows, error, sqlstate, started_by, duration >= interval '0' AS timed
  FROM reporting.runs ORDER BY id;

-- sources and the dependency order refresh_all follows
SELECT view, source, source_kind, via, through_materialized_view, registered_upstream
  FROM reporting.sources ORDER BY view::text COLLATE "C", source::text COLLATE "C";
SELECT view, level, upstream FROM reporting._refresh_plan();

-- refresh_all: every view, upstream first
SELECT view, status, mode, rows, error FROM reporting.refresh_all();

-- a failing view does not stop or undo the others; its downstream is skipped
INSERT INTO orders VALUES (1000, '2025-01-01', 0, 'paid');
CREATE OR REPLACE VIEW weekly_view AS
  SELECT week, revenue_cents / (revenue_cents - revenue_cents) AS revenue_cents FROM weekly;
CREATE MATERIALIZED VIEW zzz_downstream AS SELECT * FROM summary;
SELECT reporting.register('zzz_downstream', refresh_when => 'always');
SELECT view, status, mode, rows, error FROM reporting.refresh_all();
-- the failure is recorded with its SQLSTATE, and daily kept its refresh
SELECT view, origin, status, mode, error, sqlstate FROM reporting.runs
 WHERE origin = 'refresh_all' AND status <> 'refreshed' ORDER BY id;
SELECT order_count FROM daily WHERE day = '2025-01-01';
-- a failed refresh leaves the view as it was
SELECT weeks FROM summary;

-- statement_timeout of a report stops its refresh, and only its refresh
CREATE OR REPLACE VIEW weekly_view AS SELECT * FROM weekly;
CREATE MATERIALIZED VIEW slow AS SELECT pg_sleep(2) IS NULL AS slept WITH NO DATA;
SELECT reporting.register('slow', statement_timeout => '50 milliseconds', refresh_when => 'always');
SELECT view, status, error FROM reporting.refresh_all();
SELECT pg_temp.try($$SELECT reporting.refresh('slow')$$);

-- the caller's own statement_timeout is not swallowed by refresh_all
SELECT reporting.register('slow', refresh_when => 'always');
SET statement_timeout = '100ms';
SELECT pg_temp.try($$SELECT count(*) FROM reporting.refresh_all()$$);
RESET statement_timeout;
SELECT count(*) AS runs_of_interrupted_call FROM reporting.runs
 WHERE view = 'slow'::regclass AND status = 'refreshed';
-- the interrupted call stopped its workers: wait until they are gone
DO $$
BEGIN
  FOR i IN 1 .. 600 LOOP
    EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity
                           WHERE backend_type = 'reporting refresh worker'
                             AND datname = current_database());
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
SELECT reporting.unregister('slow');

-- rows with NULL in the unique key: said after the refresh that first
-- populates a view registered empty, and not again
CREATE MATERIALIZED VIEW nullkey AS
  SELECT NULLIF(status, 'paid') AS k FROM (SELECT DISTINCT status FROM orders) s WITH NO DATA;
CREATE UNIQUE INDEX ON nullkey (k);
SELECT reporting.register('nullkey');
SELECT mode FROM reporting.refresh('nullkey');
SELECT mode FROM reporting.refresh('nullkey');
SELECT reporting.unregister('nullkey');
DROP MATERIALIZED VIEW nullkey;

-- the caller's own settings are left as they were
SHOW lock_timeout;
SHOW search_path;
SELECT reporting.register('daily', lock_timeout => '1 second', refresh_when => 'always');
SELECT mode FROM reporting.refresh('daily');
SHOW lock_timeout;
SHOW search_path;

-- history older than reporting.history_max_age is pruned by refresh_all,
-- except each view's anchor run (its latest successful refresh), which its
-- freshness rests on
UPDATE reporting.runs SET started_at = started_at - interval '400 days', finished_at = finished_at - interval '400 days'
 WHERE view = 'daily'::regclass;
SELECT count(*) > 1 AS old_runs FROM reporting.runs WHERE started_at < now() - interval '300 days';
SELECT count(*) AS refreshed FROM reporting.refresh_all() WHERE status = 'refreshed';
SELECT count(*) AS old_runs, bool_and(status = 'refreshed') AS the_anchor
  FROM reporting.runs WHERE started_at < now() - interval '300 days';

SET client_min_messages = warning;
DROP TABLE orders CASCADE;
DROP MATERIALIZED VIEW unregistered, slow;
SELECT count(*) AS registrations FROM reporting.registrations;
