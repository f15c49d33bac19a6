-- Change tracking: whether a registered view can have missed a committed
-- change to one of its sources.  Needs shared_preload_libraries = 'reporting'.
-- Every check prints booleans and counts, never times.

CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text; msg text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN state || ': ' || regexp_replace(msg, '\d+ (second|minute)s?', 'N \1s', 'g');
END $$;
-- the view's verdict and each source's
CREATE FUNCTION pg_temp.verdict(v regclass) RETURNS TABLE (sources_changed boolean, source_changes bigint, unknown_reason text)
LANGUAGE sql AS $$ SELECT sources_changed, source_changes, unknown_reason FROM reporting.status WHERE view = v $$;

SHOW shared_preload_libraries;

CREATE TABLE orders (id int PRIMARY KEY, total bigint NOT NULL);
CREATE TABLE customers (id int PRIMARY KEY, region text NOT NULL);
INSERT INTO orders SELECT g, g FROM generate_series(1, 10) g;
INSERT INTO customers VALUES (1, 'emea');
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 5;
CREATE MATERIALIZED VIEW totals AS
  SELECT 1 AS k, (SELECT sum(total) FROM big_orders) AS big, (SELECT count(*) FROM customers) AS customers;
CREATE UNIQUE INDEX ON totals (k);
CREATE MATERIALIZED VIEW downstream AS SELECT k, big FROM totals;
CREATE UNIQUE INDEX ON downstream (k);

-- register attaches the statement-level trigger, enabled ALWAYS, to every
-- table read, through plain views; materialized views need none
SELECT reporting.register('totals');
SELECT reporting.register('downstream');
SELECT tgrelid::regclass AS tracked_table, tgenabled, tgtype
  FROM pg_trigger WHERE tgname = 'reporting_track_changes' ORDER BY tgrelid::regclass::text COLLATE "C";
-- registering again does not stack duplicates
SELECT reporting.register('totals');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgname = 'reporting_track_changes';

-- never refreshed: unknown
SELECT * FROM pg_temp.verdict('totals');
SELECT count(*) FROM reporting.refresh_all();
SELECT * FROM pg_temp.verdict('totals');
SELECT source, source_kind, changed, changes, reason FROM reporting.staleness('totals');

-- a committed INSERT marks the view changed; a rolled-back one does not
BEGIN; INSERT INTO orders VALUES (100, 100); ROLLBACK;
SELECT * FROM pg_temp.verdict('totals');
INSERT INTO orders VALUES (100, 100);
SELECT * FROM pg_temp.verdict('totals');
SELECT source, changed, changes FROM reporting.staleness('totals');
-- refresh clears it
SELECT mode FROM reporting.refresh('totals');
SELECT * FROM pg_temp.verdict('totals');

-- UPDATE, DELETE and TRUNCATE count
UPDATE orders SET total = total + 1 WHERE id = 1;
SELECT changes FROM reporting.staleness('totals') WHERE source = 'orders'::regclass;
DELETE FROM orders WHERE id = 2;
SELECT changes FROM reporting.staleness('totals') WHERE source = 'orders'::regclass;
TRUNCATE customers;
SELECT source, changed, changes FROM reporting.staleness('totals');
SELECT mode FROM reporting.refresh('totals');

-- a statement that changes no row still counts (harmless: one needless refresh)
UPDATE orders SET total = total WHERE false;
SELECT * FROM pg_temp.verdict('totals');
SELECT mode FROM reporting.refresh('totals');

-- a rolled-back subtransaction in a committed transaction is harmless:
-- it may mark the view changed, never fresh while stale
BEGIN;
SAVEPOINT s; INSERT INTO customers VALUES (2, 'amer'); ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT sources_changed IS NOT FALSE AS not_called_fresh FROM pg_temp.verdict('totals');
SELECT mode FROM reporting.refresh('totals');

-- a write in the same transaction after the refresh is not taken as included
BEGIN;
INSERT INTO orders VALUES (101, 101);
SELECT mode FROM reporting.refresh('totals');
INSERT INTO orders VALUES (102, 102);
COMMIT;
SELECT * FROM pg_temp.verdict('totals');
-- ... while a write before the refresh in the same transaction is
BEGIN;
INSERT INTO orders VALUES (103, 103);
SELECT mode FROM reporting.refresh('totals');
COMMIT;
SELECT * FROM pg_temp.verdict('totals');

-- the trigger works with an empty search_path (as in logical replication apply)
SET search_path = '';
INSERT INTO public.orders VALUES (104, 104);
RESET search_path;
SELECT * FROM pg_temp.verdict('totals');

-- refreshing an upstream materialized view marks the downstream one changed
SELECT mode FROM reporting.refresh('downstream');
SELECT * FROM pg_temp.verdict('downstream');
SELECT mode FROM reporting.refresh('totals');
SELECT * FROM pg_temp.verdict('downstream');
SELECT source, source_kind, changed FROM reporting.staleness('downstream');
-- ... also when it is refreshed outside the extension
SELECT mode FROM reporting.refresh('downstream');
REFRESH MATERIALIZED VIEW totals;
SELECT * FROM pg_temp.verdict('downstream');

-- refresh_all skips views whose sources are known unchanged, refreshes the
-- rest (and what is built on them), and says why
SELECT view, status, error FROM reporting.refresh_all();
SELECT view, status, error FROM reporting.refresh_all();
INSERT INTO customers VALUES (3, 'apac');
SELECT view, status, error FROM reporting.refresh_all();
SELECT view, status, error FROM reporting.refresh_all();
-- refresh_when 'always' is never skipped
SELECT reporting.register('downstream', refresh_when => 'always');
SELECT view, status FROM reporting.refresh_all();
SELECT reporting.register('downstream');
-- max_age forces a refresh of an unchanged view
SELECT reporting.register('totals', max_age => '1 hour');
UPDATE reporting.runs SET started_at = started_at - interval '2 hours', finished_at = finished_at - interval '2 hours'
 WHERE view = 'totals'::regclass;
SELECT view, status, error FROM reporting.refresh_all();
SELECT reporting.register('totals');

-- a refresh in a REPEATABLE READ transaction cannot prove what it saw
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT mode FROM reporting.refresh('totals');
COMMIT;
SELECT * FROM pg_temp.verdict('totals');
SELECT mode FROM reporting.refresh('totals');
SELECT * FROM pg_temp.verdict('totals');

-- assert_fresh: quiet when nothing was missed, or missed for less than "within"
SELECT reporting.assert_fresh('totals', '0');
INSERT INTO orders VALUES (105, 105);
SELECT reporting.assert_fresh('totals', '1 hour');
SELECT pg_temp.try($$SELECT reporting.assert_fresh('totals', '0')$$);
SELECT pg_temp.try($$SELECT reporting.assert_fresh('totals', NULL)$$);
SELECT pg_temp.try($$SELECT reporting.assert_fresh(NULL, '1 hour')$$);
SELECT pg_temp.try($$SELECT reporting.assert_fresh('totals', '-1 hour')$$);
CREATE MATERIALIZED VIEW unregistered AS SELECT 1;
SELECT pg_temp.try($$SELECT reporting.assert_fresh('unregistered', '1 hour')$$);

-- a source that cannot carry a trigger: registration succeeds, tracking says why
CREATE FOREIGN DATA WRAPPER regress_reporting_fdw;
CREATE SERVER regress_reporting_server FOREIGN DATA WRAPPER regress_reporting_fdw;
CREATE FOREIGN TABLE remote_orders (id int, total bigint) SERVER regress_reporting_server;
CREATE MATERIALIZED VIEW remote_totals AS SELECT sum(total) AS s FROM remote_orders WITH NO DATA;
SELECT reporting.register('remote_totals', mode => 'plain');
SELECT source, source_kind, changed, reason FROM reporting.staleness('remote_totals');
-- a table whose owner does not grant TRIGGER to the view's owner
CREATE ROLE regress_reporting_tracker;
CREATE SCHEMA theirs AUTHORIZATION regress_reporting_tracker;
CREATE TABLE locked_down (id int);
GRANT SELECT ON locked_down TO regress_reporting_tracker;
GRANT EXECUTE ON FUNCTION reporting.register(regclass, interval, text, text, text, text, interval, interval, interval),
    reporting.refresh(regclass, text) TO regress_reporting_tracker;
SET ROLE regress_reporting_tracker;
CREATE MATERIALIZED VIEW theirs.their_report AS SELECT count(*) AS n FROM locked_down;
SELECT reporting.register('theirs.their_report', mode => 'plain');
SELECT mode FROM reporting.refresh('theirs.their_report');
SELECT source, changed, reason FROM reporting.staleness('theirs.their_report');
SELECT freshness FROM reporting.status WHERE view = 'theirs.their_report'::regclass;
RESET ROLE;
-- granted: registering again adds the trigger
GRANT TRIGGER ON locked_down TO regress_reporting_tracker;
SET ROLE regress_reporting_tracker;
SELECT reporting.register('theirs.their_report', mode => 'plain');
SELECT mode FROM reporting.refresh('theirs.their_report');
SELECT source, changed, reason FROM reporting.staleness('theirs.their_report');
RESET ROLE;

-- a partitioned table: every partition is tracked, and a write through the
-- parent or straight into a partition counts
CREATE TABLE events (id int, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE MATERIALIZED VIEW event_count AS SELECT 1 AS k, count(*) AS n FROM events;
CREATE UNIQUE INDEX ON event_count (k);
SELECT reporting.register('event_count');
SELECT tgrelid::regclass AS tracked FROM pg_trigger
 WHERE tgname = 'reporting_track_changes' AND tgrelid::regclass::text LIKE 'events%' ORDER BY tgrelid::regclass::text COLLATE "C";
SELECT mode FROM reporting.refresh('event_count');
INSERT INTO events VALUES (1, '2025-06-01');
SELECT source, source_kind, changed, changes FROM reporting.staleness('event_count');
SELECT mode FROM reporting.refresh('event_count');
INSERT INTO events_2026 VALUES (2, '2026-06-01');
SELECT source, changed, changes FROM reporting.staleness('event_count');
SELECT mode FROM reporting.refresh('event_count');
-- a partition attached later is tracked at once, and attaching it counts as
-- a change; so is one created as a partition
CREATE TABLE events_2027 (id int, at date NOT NULL);
ALTER TABLE events ATTACH PARTITION events_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
CREATE TABLE events_2028 PARTITION OF events FOR VALUES FROM ('2028-01-01') TO ('2029-01-01');
SELECT tgrelid::regclass AS tracked, tgenabled FROM pg_trigger
 WHERE tgname = 'reporting_track_changes' AND tgrelid::regclass::text LIKE 'events%' ORDER BY tgrelid::regclass::text COLLATE "C";
SELECT source, changed, reason FROM reporting.staleness('event_count');
SELECT mode FROM reporting.refresh('event_count');
SELECT source, changed, reason FROM reporting.staleness('event_count');
INSERT INTO events_2028 VALUES (3, '2028-06-01');
SELECT source, changed, changes FROM reporting.staleness('event_count');
SELECT mode FROM reporting.refresh('event_count');
-- a table whose trigger was dropped by hand says so, and how to fix it
DROP TRIGGER reporting_track_changes ON events_2027;
SELECT source, changed, reason FROM reporting.staleness('event_count');
SELECT reporting.register('event_count');
SELECT mode FROM reporting.refresh('event_count');
SELECT source, changed, reason FROM reporting.staleness('event_count');
ALTER TABLE events DETACH PARTITION events_2025;
SELECT source, changed, changes FROM reporting.staleness('event_count');
SELECT reporting.unregister('event_count');

-- unregister and DROP remove triggers no registration needs any more
SELECT reporting.unregister('theirs.their_report');
SELECT count(*) AS triggers_on_locked_down FROM pg_trigger WHERE tgrelid = 'locked_down'::regclass;
SELECT reporting.unregister('downstream');
SELECT tgrelid::regclass AS still_tracked FROM pg_trigger WHERE tgname = 'reporting_track_changes' ORDER BY tgrelid::regclass::text COLLATE "C";
SET client_min_messages = warning;
DROP MATERIALIZED VIEW downstream;
DROP MATERIALIZED VIEW totals;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgname = 'reporting_track_changes';

DROP SCHEMA theirs CASCADE;
DROP MATERIALIZED VIEW remote_totals, unregistered;
DROP FOREIGN TABLE remote_orders;
DROP SERVER regress_reporting_server;
DROP FOREIGN DATA WRAPPER regress_reporting_fdw;
DROP TABLE orders, customers, locked_down, events, events_2025 CASCADE;
DROP OWNED BY regress_reporting_tracker;
DROP ROLE regress_reporting_tracker;
SELECT count(*) AS registrations FROM reporting.registrations;
