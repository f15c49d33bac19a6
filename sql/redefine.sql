-- reporting.redefine() and DROP + CREATE in one transaction: a report's
-- query changes and it keeps its name, registration, history, refresh
-- grants, owner, grants, comments, indexes and the views built on it; a
-- redefinition that does not fit changes nothing; a registration dropped
-- for good says which schedule is gone.

-- Runs a statement and shows its SQLSTATE and message (and detail), so that
-- the expected output pins the error code as well as the text.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text; msg text; detail text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    RETURN state || ': ' || msg || CASE WHEN detail <> '' THEN ' (detail: ' || detail || ')' ELSE '' END;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;

-- Everything redefine() must keep, in one row per object (no OIDs).
CREATE FUNCTION pg_temp.kept(rel text) RETURNS TABLE (what text, value text) LANGUAGE sql AS $$
    SELECT 'owner', c.relowner::regrole::text FROM pg_class c WHERE c.oid = to_regclass(rel)
    UNION ALL SELECT 'grants', array_to_string(c.relacl, ' ') FROM pg_class c WHERE c.oid = to_regclass(rel)
    UNION ALL SELECT 'comment', obj_description(to_regclass(rel), 'pg_class')
    UNION ALL SELECT 'column comment ' || a.attname, col_description(a.attrelid, a.attnum)
      FROM pg_attribute a WHERE a.attrelid = to_regclass(rel) AND col_description(a.attrelid, a.attnum) IS NOT NULL
    UNION ALL SELECT 'index', pg_get_indexdef(i.indexrelid) || coalesce(' -- ' || obj_description(i.indexrelid, 'pg_class'), '')
      FROM pg_index i WHERE i.indrelid = to_regclass(rel)
    UNION ALL SELECT 'registration', coalesce(r.every::text, r.cron) || ' ' || r.mode || ' owner ' || r.owner::text
      FROM reporting.registrations r WHERE r.view = to_regclass(rel)
    UNION ALL SELECT 'runs', count(*)::text FROM reporting.runs u WHERE u.view = to_regclass(rel)
    UNION ALL SELECT 'refresh grant', g.grantee::text FROM reporting.refresh_grants g WHERE g.view = to_regclass(rel)
    ORDER BY 1, 2
$$;

CREATE ROLE regress_redefine_owner;
CREATE ROLE regress_redefine_other;
CREATE ROLE regress_redefine_reader;
GRANT CREATE ON SCHEMA public TO regress_redefine_owner, regress_redefine_other;
GRANT EXECUTE ON FUNCTION reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text),
    reporting.refresh(regclass, text), reporting.grant_refresh(regclass, regrole),
    reporting.redefine(regclass, text)
  TO regress_redefine_owner, regress_redefine_other;

CREATE TABLE orders (id int PRIMARY KEY, day date NOT NULL, total_cents bigint NOT NULL, status text NOT NULL);
INSERT INTO orders SELECT g, date '2025-01-01' + g % 10, g * 100, CASE WHEN g % 4 = 0 THEN 'failed' ELSE 'paid' END
  FROM generate_series(1, 200) g;
GRANT SELECT ON orders TO regress_redefine_owner;

SET ROLE regress_redefine_owner;
CREATE MATERIALIZED VIEW daily AS
  SELECT day, count(*) AS order_count, sum(total_cents) AS revenue_cents FROM orders WHERE status = 'paid' GROUP BY day;
CREATE UNIQUE INDEX daily_day_idx ON daily (day);
CREATE INDEX daily_revenue_idx ON daily (revenue_cents) WHERE revenue_cents > 0;
COMMENT ON MATERIALIZED VIEW daily IS 'Paid revenue per day.';
COMMENT ON COLUMN daily.revenue_cents IS 'In cents.';
COMMENT ON INDEX daily_day_idx IS 'The key for concurrent refreshes.';
GRANT SELECT ON daily TO regress_redefine_reader;
-- reports built on it: a plain view, a materialized view on that view
CREATE VIEW recent AS SELECT day, revenue_cents FROM daily WHERE day > date '2025-01-03';
GRANT SELECT ON recent TO regress_redefine_reader;
CREATE MATERIALIZED VIEW weekly AS
  SELECT date_trunc('week', day)::date AS week, sum(revenue_cents) AS revenue_cents FROM recent GROUP BY 1;
CREATE UNIQUE INDEX weekly_week_idx ON weekly (week);
COMMENT ON MATERIALIZED VIEW weekly IS 'Paid revenue per week, recent days.';
SELECT reporting.register('daily', every => '5 minutes');
SELECT reporting.register('weekly', cron => '0 6 * * *');
SELECT mode, rows FROM reporting.refresh('daily');
SELECT mode, rows FROM reporting.refresh('daily');
SELECT mode, rows FROM reporting.refresh('weekly');
SELECT reporting.grant_refresh('daily', 'regress_redefine_reader');
RESET ROLE;

SELECT * FROM pg_temp.kept('daily');
SELECT * FROM pg_temp.kept('weekly');

-- only the owner may redefine
SET ROLE regress_redefine_other;
SELECT pg_temp.try($$SELECT reporting.redefine('daily', 'SELECT 1 AS day')$$);
RESET ROLE;
-- bad input
SELECT pg_temp.try($$SELECT reporting.redefine(NULL, 'SELECT 1')$$);
SELECT pg_temp.try($$SELECT reporting.redefine('daily', NULL)$$);
SELECT pg_temp.try($$SELECT reporting.redefine('recent', 'SELECT 1')$$);
SELECT pg_temp.try($$SELECT reporting.redefine('orders', 'SELECT 1')$$);
SELECT pg_temp.try($$SELECT reporting.redefine('no_such_view', 'SELECT 1')$$);
SELECT pg_temp.try($$SELECT reporting.redefine('daily', ' ; ')$$);
-- the query and nothing else: a second statement would run as the owner
SELECT pg_temp.try($$SELECT reporting.redefine('daily', 'SELECT 1 AS day; CREATE TABLE rd_pwned AS SELECT 1 AS x')$$);
SELECT pg_temp.try($$SELECT reporting.redefine('daily', 'CREATE TABLE rd_pwned AS SELECT 1 AS x')$$);
SELECT pg_temp.try($$SELECT reporting.redefine('daily', 'SELECT 1 AS day INTO rd_pwned')$$);
SELECT to_regclass('rd_pwned') IS NULL AS nothing_else_ran;

-- a redefinition that does not fit changes nothing
CREATE TEMP TABLE before AS
  SELECT c.relname, c.oid, pg_get_viewdef(c.oid) AS def FROM pg_class c WHERE c.relname IN ('daily', 'recent', 'weekly');
SET ROLE regress_redefine_owner;
-- the new query fails
SELECT pg_temp.try($$SELECT reporting.redefine('daily', 'SELECT day, count(*) FROM no_such_table GROUP BY day')$$);
-- an index on a column that is gone
SELECT pg_temp.try($$SELECT reporting.redefine('daily',
  'SELECT day, count(*) AS order_count FROM orders GROUP BY day')$$);
-- a view built on it reads a column that is gone
CREATE VIEW counts AS SELECT day, order_count FROM daily;
SELECT pg_temp.try($$SELECT reporting.redefine('daily',
  'SELECT day, sum(total_cents) AS revenue_cents FROM orders GROUP BY day')$$);
DROP VIEW counts;
-- WITH NO DATA smuggled in
SELECT pg_temp.try($$SELECT reporting.redefine('daily',
  'SELECT day, count(*) AS order_count, sum(total_cents) AS revenue_cents FROM orders GROUP BY day WITH NO DATA --')$$);
RESET ROLE;
-- a view built on it that belongs to a role its owner is not a member of
SET ROLE regress_redefine_other;
CREATE VIEW others_view AS SELECT day FROM daily;
RESET ROLE;
SET ROLE regress_redefine_owner;
SELECT pg_temp.try($$SELECT reporting.redefine('daily',
  'SELECT day, count(*) AS order_count, sum(total_cents) AS revenue_cents FROM orders GROUP BY day')$$);
RESET ROLE;
DROP VIEW others_view;
-- another kind of object depends on it (a function with a SQL-standard body)
CREATE FUNCTION best_day() RETURNS date LANGUAGE sql BEGIN ATOMIC SELECT day FROM daily ORDER BY revenue_cents DESC LIMIT 1; END;
SELECT pg_temp.try($$SELECT reporting.redefine('daily',
  'SELECT day, count(*) AS order_count, sum(total_cents) AS revenue_cents FROM orders GROUP BY day')$$);
DROP FUNCTION best_day();
SELECT b.relname, b.oid = c.oid AS same_object, b.def = pg_get_viewdef(c.oid) AS same_definition
  FROM before b JOIN pg_class c ON c.relname = b.relname ORDER BY 1;
SELECT count(*) AS leftovers FROM pg_class WHERE relname LIKE '%redefine%';
SELECT * FROM pg_temp.kept('daily');

-- a redefinition that fits: all statuses now, a column added
SET ROLE regress_redefine_owner;
SELECT reporting.redefine('daily', $$
    SELECT day, count(*) AS order_count, sum(total_cents) AS revenue_cents,
           count(*) FILTER (WHERE status = 'failed') AS failed_count
      FROM orders GROUP BY day;
$$);
RESET ROLE;
SELECT b.relname, b.oid = c.oid AS same_object FROM before b JOIN pg_class c ON c.relname = b.relname ORDER BY 1;
SELECT * FROM pg_temp.kept('daily');
SELECT * FROM pg_temp.kept('weekly');
SELECT array_to_string(relacl, ' ') AS recent_grants FROM pg_class WHERE relname = 'recent';
-- the new definition is there, and the reports built on it read it
SELECT sum(order_count) AS orders, sum(failed_count) AS failed FROM daily;
SELECT sum(revenue_cents) = (SELECT sum(total_cents) FROM orders WHERE day > date '2025-01-03') AS weekly_reads_new
  FROM weekly;
SELECT count(*) AS leftovers FROM pg_class WHERE relname LIKE '%redefine%';
-- it still refreshes concurrently
SET ROLE regress_redefine_owner;
SELECT mode, rows FROM reporting.refresh('daily');
RESET ROLE;

-- DROP + CREATE in one transaction keeps the registration
SET ROLE regress_redefine_owner;
BEGIN;
DROP MATERIALIZED VIEW weekly;
CREATE MATERIALIZED VIEW weekly AS
  SELECT date_trunc('week', day)::date AS week, sum(revenue_cents) AS revenue_cents, count(*) AS days FROM recent GROUP BY 1;
COMMIT;
SELECT * FROM pg_temp.kept('weekly');
-- so does building beside and renaming into its place
BEGIN;
CREATE MATERIALIZED VIEW weekly_new AS SELECT date_trunc('week', day)::date AS week FROM recent GROUP BY 1;
DROP MATERIALIZED VIEW weekly;
ALTER MATERIALIZED VIEW weekly_new RENAME TO weekly;
COMMIT;
SELECT * FROM pg_temp.kept('weekly');
-- DROP ... CASCADE, then the report and the reports built on it created
-- again in the same transaction: each keeps its registration
BEGIN;
DROP MATERIALIZED VIEW daily CASCADE;
CREATE MATERIALIZED VIEW daily AS
  SELECT day, count(*) AS order_count, sum(total_cents) AS revenue_cents FROM orders GROUP BY day;
CREATE UNIQUE INDEX daily_day_idx ON daily (day);
CREATE VIEW recent AS SELECT day, revenue_cents FROM daily WHERE day > date '2025-01-03';
CREATE MATERIALIZED VIEW weekly AS SELECT date_trunc('week', day)::date AS week FROM recent GROUP BY 1;
COMMIT;
SELECT r.view, count(u.id) AS runs FROM reporting.registrations r LEFT JOIN reporting.runs u ON u.view = r.view
 GROUP BY r.view ORDER BY r.view::text COLLATE "C";
-- a drop rolled back leaves everything as it was
BEGIN;
DROP MATERIALIZED VIEW weekly;
ROLLBACK;
SELECT count(*) AS registrations FROM reporting.registrations WHERE view = 'weekly'::regclass;
-- dropped for good: the notice names the schedule that is gone
DROP MATERIALIZED VIEW weekly;
RESET ROLE;
SELECT view FROM reporting.registrations ORDER BY 1::text;
SELECT count(*) AS set_aside FROM reporting.dropped_registrations;
-- DROP ... CASCADE of a table: every report built on it says so
DROP TABLE orders CASCADE;
SELECT count(*) AS registrations, (SELECT count(*) FROM reporting.runs) AS runs,
       (SELECT count(*) FROM reporting.refresh_grants) AS refresh_grants
  FROM reporting.registrations;

REVOKE ALL ON SCHEMA public FROM regress_redefine_owner, regress_redefine_other;
REVOKE ALL ON FUNCTION reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text),
    reporting.refresh(regclass, text), reporting.grant_refresh(regclass, regrole), reporting.redefine(regclass, text)
  FROM regress_redefine_owner, regress_redefine_other, regress_redefine_reader;
DROP OWNED BY regress_redefine_owner, regress_redefine_other, regress_redefine_reader;
DROP ROLE regress_redefine_owner, regress_redefine_other, regress_redefine_reader;

-- pausing scheduling, for test databases: the database's owner only
CREATE ROLE regress_redefine_nobody;
GRANT EXECUTE ON FUNCTION reporting.pause_scheduling(interval) TO regress_redefine_nobody;
SET ROLE regress_redefine_nobody;
SELECT pg_temp.try($$SELECT reporting.pause_scheduling('1 minute')$$) ~ '^42501: must be owner of database' AS refused;
RESET ROLE;
SELECT pg_temp.try($$SELECT reporting.pause_scheduling('-1 second')$$);
SELECT pg_temp.try($$SELECT reporting.pause_scheduling('1 month')$$);
SELECT pg_temp.try($$SELECT reporting.pause_scheduling('8 days')$$);
-- Waits (at most 60 s) until this database's scheduler runs, or not.
CREATE FUNCTION pg_temp.scheduler_running(expected boolean) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..600 LOOP
        EXIT WHEN expected = EXISTS (SELECT 1 FROM pg_stat_activity
                                      WHERE backend_type = 'reporting scheduler' AND datname = current_database());
        PERFORM pg_sleep(0.1);
        PERFORM pg_stat_clear_snapshot();
    END LOOP;
    RETURN EXISTS (SELECT 1 FROM pg_stat_activity
                    WHERE backend_type = 'reporting scheduler' AND datname = current_database());
END $$;
SELECT pg_temp.scheduler_running(true) AS running_before;
SELECT reporting.scheduling_paused_until() IS NULL AS not_paused;
SELECT reporting.pause_scheduling('10 minutes');
SELECT reporting.scheduling_paused_until() BETWEEN now() + interval '9 minutes' AND now() + interval '11 minutes' AS paused_for_10_minutes;
SELECT pg_temp.scheduler_running(false) AS running_while_paused;
SELECT reporting.pause_scheduling('0');
SELECT reporting.scheduling_paused_until() IS NULL AS not_paused;
SELECT pg_temp.scheduler_running(true) AS running_after;
REVOKE ALL ON FUNCTION reporting.pause_scheduling(interval) FROM regress_redefine_nobody;
DROP ROLE regress_redefine_nobody;

-- a report that declared a redefined report among its sources (it reads it
-- inside a function) keeps reading it: the declared source follows the new
-- view, by name and by OID
CREATE MATERIALIZED VIEW rd_up AS SELECT 1 AS k, 10 AS v;
CREATE UNIQUE INDEX ON rd_up (k);
CREATE FUNCTION rd_up_total() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT sum(v) FROM public.rd_up';
CREATE MATERIALIZED VIEW rd_fn AS SELECT 1 AS k, rd_up_total() AS total;
CREATE UNIQUE INDEX ON rd_fn (k);
SELECT reporting.register('rd_up'), reporting.register('rd_fn', sources => '{rd_up}');
SELECT reporting.redefine('rd_up', 'SELECT 1 AS k, 20 AS v');
SELECT sources = ARRAY['rd_up'::regclass] AS follows_the_new_view FROM reporting.registrations WHERE view = 'rd_fn'::regclass;
SELECT view, status FROM reporting.refresh_all() WHERE view IN ('rd_up'::regclass, 'rd_fn'::regclass) ORDER BY 1::text COLLATE "C";
SELECT total, (SELECT fresh FROM reporting.freshness('rd_fn')) AS fresh FROM rd_fn;
SELECT reporting.redefine('rd_up', 'SELECT 1 AS k, 30 AS v');
SELECT fresh, reason IS NOT NULL AS says_why FROM reporting.freshness('rd_fn');
SELECT reporting.unregister('rd_fn'), reporting.unregister('rd_up');
DROP MATERIALIZED VIEW rd_fn, rd_up;
DROP FUNCTION rd_up_total();

-- a redefinition leaves the other reports of the database fresh (its
-- renames and owner change concern only the relation it built)
CREATE TABLE rd_events (id int PRIMARY KEY);
CREATE MATERIALIZED VIEW rd_bystander AS SELECT 1 AS k, count(*) AS n FROM rd_events;
CREATE UNIQUE INDEX ON rd_bystander (k);
CREATE MATERIALIZED VIEW rd_target AS SELECT 1 AS k, 1 AS v;
CREATE UNIQUE INDEX rd_target_k ON rd_target (k);
SELECT reporting.register('rd_bystander'), reporting.register('rd_target');
SELECT view, status FROM reporting.refresh_all() WHERE view IN ('rd_bystander'::regclass, 'rd_target'::regclass) ORDER BY 1::text COLLATE "C";
SELECT reporting.redefine('rd_target', 'SELECT 1 AS k, 2 AS v');
SELECT fresh FROM reporting.freshness('rd_bystander');
-- renaming a report, though, may change what a function reading it by name sees
ALTER MATERIALIZED VIEW rd_target RENAME TO rd_target2;
SELECT fresh FROM reporting.freshness('rd_bystander');
-- and so does renaming an old one after another ALTER of it in the same
-- transaction (its catalog row is then this transaction's, the view is not)
CREATE MATERIALIZED VIEW rd_old AS SELECT 1 AS k;
SELECT mode FROM reporting.refresh('rd_bystander');
SELECT fresh FROM reporting.freshness('rd_bystander');
BEGIN;
ALTER MATERIALIZED VIEW rd_old SET (fillfactor = 90);
ALTER MATERIALIZED VIEW rd_old RENAME TO rd_old2;
COMMIT;
SELECT fresh FROM reporting.freshness('rd_bystander');
DROP MATERIALIZED VIEW rd_old2;
SELECT reporting.unregister('rd_bystander'), reporting.unregister('rd_target2');
DROP MATERIALIZED VIEW rd_bystander, rd_target2;
DROP TABLE rd_events;
