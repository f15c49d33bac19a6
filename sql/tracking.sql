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
CREATE TABLE unrelated_log (id int);
CREATE TABLE customers (id int PRIMARY KEY, region text NOT NULL);
INSERT INTO orders SELECT g, g FROM generate_series(1, 10) g;
INSERT INTO customers VALUES (1, 'emea');
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 5;
CREATE MATERIALIZED VIEW totals AS
  SELECT 1 AS k, (SELECT sum(total) FROM big_orders) AS big, (SELECT count(*) FROM customers) AS customers;
CREATE UNIQUE INDEX ON totals (k);
CREATE MATERIALIZED VIEW downstream AS SELECT k, big FROM totals;
CREATE UNIQUE INDEX ON downstream (k);

-- registering puts nothing on the tables read (no trigger) and takes no
-- lock on them, even inside a transaction
BEGIN;
SELECT reporting.register('totals');
SELECT reporting.register('downstream');
SELECT count(*) AS locks_on_sources FROM pg_locks
 WHERE pid = pg_backend_pid() AND relation IN ('orders'::regclass, 'customers'::regclass);
COMMIT;
SELECT count(*) AS triggers FROM pg_trigger WHERE NOT tgisinternal AND tgrelid NOT IN (SELECT oid FROM pg_class WHERE relnamespace = 'reporting'::regnamespace);

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

-- a statement that changes no row commits no transaction id: no change
UPDATE orders SET total = total WHERE false;
DELETE FROM customers WHERE false;
SELECT * FROM pg_temp.verdict('totals');
-- ... while a transaction that wrote anything counts all it touched
-- (harmless: at worst one needless refresh)
BEGIN; UPDATE orders SET total = total WHERE false; INSERT INTO unrelated_log VALUES (1); COMMIT;
SELECT sources_changed IS NOT FALSE AS not_called_fresh FROM pg_temp.verdict('totals');
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

-- tracking works with an empty search_path (as in logical replication apply)
SET search_path = '';
INSERT INTO public.orders VALUES (104, 104);
RESET search_path;
SELECT * FROM pg_temp.verdict('totals');

-- refreshing an upstream materialized view marks the downstream one changed
SELECT mode FROM reporting.refresh('totals');
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

-- a source whose changes cannot be seen: registration succeeds, tracking says why
CREATE FOREIGN DATA WRAPPER regress_reporting_fdw;
CREATE SERVER regress_reporting_server FOREIGN DATA WRAPPER regress_reporting_fdw;
CREATE FOREIGN TABLE remote_orders (id int, total bigint) SERVER regress_reporting_server;
CREATE MATERIALIZED VIEW remote_totals AS SELECT sum(total) AS s FROM remote_orders WITH NO DATA;
SELECT reporting.register('remote_totals', mode => 'plain');
SELECT source, source_kind, changed, reason FROM reporting.staleness('remote_totals');
-- a table whose owner granted the view's owner SELECT and nothing else is
-- tracked all the same: nothing is put on it
CREATE ROLE regress_reporting_tracker;
CREATE SCHEMA theirs AUTHORIZATION regress_reporting_tracker;
CREATE TABLE locked_down (id int);
GRANT SELECT ON locked_down TO regress_reporting_tracker;
GRANT EXECUTE ON FUNCTION reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text),
    reporting.refresh(regclass, text) TO regress_reporting_tracker;
SET ROLE regress_reporting_tracker;
CREATE MATERIALIZED VIEW theirs.their_report AS SELECT count(*) AS n FROM locked_down;
SELECT reporting.register('theirs.their_report', mode => 'plain');
SELECT mode FROM reporting.refresh('theirs.their_report');
SELECT source, changed, reason FROM reporting.staleness('theirs.their_report');
RESET ROLE;
INSERT INTO locked_down VALUES (1);
SET ROLE regress_reporting_tracker;
SELECT source, changed, changes FROM reporting.staleness('theirs.their_report');
RESET ROLE;

-- a partitioned table: a write through the parent or straight into a
-- partition counts
CREATE TABLE events (id int, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE MATERIALIZED VIEW event_count AS SELECT 1 AS k, count(*) AS n FROM events;
CREATE UNIQUE INDEX ON event_count (k);
SELECT reporting.register('event_count');
SELECT mode FROM reporting.refresh('event_count');
INSERT INTO events VALUES (1, '2025-06-01');
SELECT source, source_kind, changed, changes FROM reporting.staleness('event_count');
SELECT mode FROM reporting.refresh('event_count');
INSERT INTO events_2026 VALUES (2, '2026-06-01');
SELECT source, changed, changes FROM reporting.staleness('event_count');
SELECT mode FROM reporting.refresh('event_count');
-- attaching a partition counts as a change; so does creating one
CREATE TABLE events_2027 (id int, at date NOT NULL);
INSERT INTO events_2027 VALUES (4, '2027-06-01');
ALTER TABLE events ATTACH PARTITION events_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
SELECT source, changed, reason FROM reporting.staleness('event_count');
SELECT mode FROM reporting.refresh('event_count');
CREATE TABLE events_2028 PARTITION OF events FOR VALUES FROM ('2028-01-01') TO ('2029-01-01');
SELECT source, changed, reason FROM reporting.staleness('event_count');
SELECT mode FROM reporting.refresh('event_count');
SELECT source, changed, reason FROM reporting.staleness('event_count');
INSERT INTO events_2028 VALUES (3, '2028-06-01');
SELECT source, changed, changes FROM reporting.staleness('event_count');
SELECT mode FROM reporting.refresh('event_count');
ALTER TABLE events DETACH PARTITION events_2025;
SELECT source, changed, changes FROM reporting.staleness('event_count');
SELECT mode FROM reporting.refresh('event_count');

-- a view reading one partition directly sees rows routed to it through the
-- parent, and UPDATEs that move rows between partitions
CREATE MATERIALIZED VIEW events_2026_count AS SELECT count(*) AS n FROM events_2026;
CREATE UNIQUE INDEX ON events_2026_count (n);
SELECT reporting.register('events_2026_count');
SELECT mode FROM reporting.refresh('events_2026_count');
INSERT INTO events VALUES (5, '2026-03-01');
SELECT * FROM pg_temp.verdict('events_2026_count');
SELECT mode FROM reporting.refresh('events_2026_count');
UPDATE events SET at = '2027-03-01' WHERE id = 5;
SELECT * FROM pg_temp.verdict('events_2026_count');
SELECT mode FROM reporting.refresh('events_2026_count');
-- a write straight into another partition does not count
INSERT INTO events_2028 VALUES (6, '2028-03-01');
SELECT sources_changed FROM pg_temp.verdict('events_2026_count');
SELECT reporting.unregister('events_2026_count');
SELECT reporting.unregister('event_count');

-- old-style inheritance: a write to a child counts for a view on the
-- parent; dropping a child, INHERIT and NO INHERIT too
CREATE TABLE readings (v int);
CREATE TABLE readings_jan () INHERITS (readings);
CREATE TABLE readings_feb (v int);
INSERT INTO readings_feb VALUES (7);
CREATE MATERIALIZED VIEW reading_sum AS SELECT 1 AS k, coalesce(sum(v), 0) AS s FROM readings;
CREATE UNIQUE INDEX ON reading_sum (k);
SELECT reporting.register('reading_sum');
SELECT mode FROM reporting.refresh('reading_sum');
INSERT INTO readings_jan VALUES (1);
SELECT * FROM pg_temp.verdict('reading_sum');
SELECT mode FROM reporting.refresh('reading_sum');
ALTER TABLE readings_feb INHERIT readings;
SELECT * FROM pg_temp.verdict('reading_sum');
SELECT mode FROM reporting.refresh('reading_sum');
ALTER TABLE readings_feb NO INHERIT readings;
SELECT * FROM pg_temp.verdict('reading_sum');
SELECT mode FROM reporting.refresh('reading_sum');
DROP TABLE readings_jan;
SELECT sources_changed FROM pg_temp.verdict('reading_sum');
SELECT count(*) AS no_longer_read FROM reporting.staleness('reading_sum') WHERE source_kind = 'no longer read' AND changed;
SELECT mode FROM reporting.refresh('reading_sum');

-- every write path of the executor: a writable CTE, a rule, MERGE, COPY,
-- a cascading foreign key, TRUNCATE ... CASCADE
CREATE TABLE accounts (id int PRIMARY KEY);
CREATE TABLE ledger (id int PRIMARY KEY, account int REFERENCES accounts ON DELETE CASCADE, amount int);
CREATE VIEW ledger_entry AS SELECT id, amount FROM ledger;
CREATE RULE ledger_entry_insert AS ON INSERT TO ledger_entry
  DO INSTEAD INSERT INTO ledger VALUES (NEW.id, 1, NEW.amount);
INSERT INTO accounts VALUES (1), (2);
CREATE MATERIALIZED VIEW ledger_total AS SELECT 1 AS k, count(*) AS n, coalesce(sum(amount), 0) AS s FROM ledger;
CREATE UNIQUE INDEX ON ledger_total (k);
SELECT reporting.register('ledger_total');
SELECT mode FROM reporting.refresh('ledger_total');
WITH moved AS (INSERT INTO ledger VALUES (1, 2, 10) RETURNING id) SELECT count(*) FROM moved;
SELECT * FROM pg_temp.verdict('ledger_total');
SELECT mode FROM reporting.refresh('ledger_total');
INSERT INTO ledger_entry VALUES (2, 20);
SELECT * FROM pg_temp.verdict('ledger_total');
SELECT mode FROM reporting.refresh('ledger_total');
MERGE INTO ledger l USING (VALUES (2, 25)) AS n (id, amount) ON l.id = n.id
  WHEN MATCHED THEN UPDATE SET amount = n.amount;
SELECT * FROM pg_temp.verdict('ledger_total');
SELECT mode FROM reporting.refresh('ledger_total');
COPY ledger FROM STDIN;
3	1	30
\.
SELECT * FROM pg_temp.verdict('ledger_total');
SELECT mode FROM reporting.refresh('ledger_total');
DELETE FROM accounts WHERE id = 2;
SELECT * FROM pg_temp.verdict('ledger_total');
SELECT mode FROM reporting.refresh('ledger_total');
SET client_min_messages = warning;
TRUNCATE accounts CASCADE;
RESET client_min_messages;
SELECT * FROM pg_temp.verdict('ledger_total');
SELECT mode FROM reporting.refresh('ledger_total');
-- the bulk-load recipe that disables triggers changes nothing for tracking
ALTER TABLE ledger DISABLE TRIGGER ALL;
INSERT INTO ledger VALUES (4, 1, 40);
ALTER TABLE ledger ENABLE TRIGGER ALL;
SELECT * FROM pg_temp.verdict('ledger_total');

-- registering inside a migration with pending deferred trigger events
-- (Django's foreign keys are DEFERRABLE INITIALLY DEFERRED) just works
CREATE TABLE cust (id int PRIMARY KEY);
CREATE TABLE ord (id int PRIMARY KEY, cid int REFERENCES cust DEFERRABLE INITIALLY DEFERRED);
CREATE MATERIALIZED VIEW ord_count AS SELECT count(*) AS n FROM ord;
CREATE UNIQUE INDEX ON ord_count (n);
BEGIN;
INSERT INTO cust VALUES (1);
INSERT INTO ord VALUES (1, 1);
SELECT reporting.register('ord_count');
SELECT mode FROM reporting.refresh('ord_count');
COMMIT;
SELECT * FROM pg_temp.verdict('ord_count');
INSERT INTO ord VALUES (2, 1);
SELECT * FROM pg_temp.verdict('ord_count');

-- a foreign partition changes on another server: a view on its parent is
-- unknown, never fresh, and says which partition; a view on a sibling
-- partition is not concerned
CREATE TABLE mixed (id int, region text) PARTITION BY LIST (region);
CREATE TABLE mixed_local PARTITION OF mixed FOR VALUES IN ('local');
CREATE FOREIGN TABLE mixed_remote PARTITION OF mixed FOR VALUES IN ('remote') SERVER regress_reporting_server;
CREATE MATERIALIZED VIEW mixed_count AS SELECT count(*) AS n FROM mixed WITH NO DATA;
SELECT reporting.register('mixed_count', mode => 'plain');
SELECT source, changed, reason FROM reporting.staleness('mixed_count');
CREATE MATERIALIZED VIEW local_count AS SELECT count(*) AS n FROM mixed_local;
SELECT reporting.register('local_count', mode => 'plain');
SELECT mode FROM reporting.refresh('local_count');
SELECT source, changed, reason FROM reporting.staleness('local_count');

-- TRUNCATE ... CASCADE reaches tables through the children and partitions
-- of the tables it names (as TRUNCATE itself does)
CREATE TABLE fam (id int);
CREATE TABLE fam_child (id int PRIMARY KEY) INHERITS (fam);
CREATE TABLE fam_ref (cid int REFERENCES fam_child);
INSERT INTO fam_child VALUES (1);
INSERT INTO fam_ref VALUES (1);
CREATE MATERIALIZED VIEW fam_ref_count AS SELECT count(*) AS n FROM fam_ref;
CREATE UNIQUE INDEX ON fam_ref_count (n);
SELECT reporting.register('fam_ref_count', refresh => 'now');
SET client_min_messages = warning;
TRUNCATE fam CASCADE;
RESET client_min_messages;
SELECT * FROM pg_temp.verdict('fam_ref_count');

-- a refresh while a prepared transaction that wrote through a parent is
-- pending cannot vouch for that parent, and stays unproven after the
-- partition it reads is detached from it
CREATE TABLE routed (d int) PARTITION BY RANGE (d);
CREATE TABLE routed_low PARTITION OF routed FOR VALUES FROM (0) TO (100);
CREATE MATERIALIZED VIEW routed_low_count AS SELECT count(*) AS n FROM routed_low;
CREATE UNIQUE INDEX ON routed_low_count (n);
SELECT reporting.register('routed_low_count', refresh => 'now');
BEGIN;
INSERT INTO routed VALUES (1);
PREPARE TRANSACTION 'regress_reporting_routed';
SELECT mode FROM reporting.refresh('routed_low_count');
COMMIT PREPARED 'regress_reporting_routed';
ALTER TABLE routed DETACH PARTITION routed_low;
SELECT sources_changed IS NOT FALSE AS not_called_fresh,
       (SELECT n FROM routed_low_count) <> (SELECT count(*) FROM routed_low) AS it_does_miss_a_row
  FROM pg_temp.verdict('routed_low_count');
DROP MATERIALIZED VIEW routed_low_count;
DROP TABLE routed, routed_low;

-- a refresh inside the statement that writes (a writable CTE beside it, a
-- trigger calling it) is not taken as including the rows written after it
CREATE TABLE same_stmt (id int);
CREATE MATERIALIZED VIEW same_stmt_count AS SELECT count(*) AS n FROM same_stmt;
CREATE UNIQUE INDEX ON same_stmt_count (n);
SELECT reporting.register('same_stmt_count', refresh => 'now');
WITH w AS (INSERT INTO same_stmt VALUES (1), (2)) SELECT mode FROM reporting.refresh('same_stmt_count');
SELECT sources_changed IS NOT FALSE AS not_called_fresh,
       (SELECT n FROM same_stmt_count) <> (SELECT count(*) FROM same_stmt) AS it_does_miss_rows
  FROM pg_temp.verdict('same_stmt_count');

-- DDL that changes what a query returns without writing a row: a plain view
-- the report reads redefined, row-level security, the owner's settings
CREATE TABLE ddl_src (v int);
INSERT INTO ddl_src SELECT generate_series(1, 10);
CREATE VIEW ddl_filter AS SELECT v FROM ddl_src WHERE v > 5;
CREATE MATERIALIZED VIEW ddl_report AS SELECT count(*) AS n FROM ddl_filter;
CREATE UNIQUE INDEX ON ddl_report (n);
SELECT reporting.register('ddl_report', refresh => 'now');
CREATE OR REPLACE VIEW ddl_filter AS SELECT v FROM ddl_src WHERE v > 0;
SELECT sources_changed FROM pg_temp.verdict('ddl_report');
SELECT mode FROM reporting.refresh('ddl_report');
ALTER TABLE ddl_src ENABLE ROW LEVEL SECURITY;
SELECT sources_changed FROM pg_temp.verdict('ddl_report');
SELECT mode FROM reporting.refresh('ddl_report');
ALTER DATABASE contrib_regression SET DateStyle = 'German, DMY';
SELECT sources_changed FROM pg_temp.verdict('ddl_report');
ALTER DATABASE contrib_regression RESET DateStyle;
SELECT mode FROM reporting.refresh('ddl_report');
-- ... but not the temporary table REFRESH ... CONCURRENTLY alters for itself
SELECT mode FROM reporting.refresh('ddl_report', 'concurrently');
SELECT sources_changed FROM pg_temp.verdict('ddl_report');

-- how often a table changes is shown only to roles that may read it (or a
-- relation of its family)
CREATE ROLE regress_reporting_snoop;
SET ROLE regress_reporting_snoop;
SELECT generation IS NULL AS hidden, reason FROM reporting._generation('{ddl_src}');
RESET ROLE;
DROP ROLE regress_reporting_snoop;

SET client_min_messages = warning;
DROP MATERIALIZED VIEW fam_ref_count, same_stmt_count, ddl_report;
DROP VIEW ddl_filter;
DROP TABLE fam, fam_ref, same_stmt, ddl_src CASCADE;
DROP MATERIALIZED VIEW downstream;
DROP MATERIALIZED VIEW totals;
DROP MATERIALIZED VIEW local_count, mixed_count, ord_count, ledger_total, reading_sum;
DROP TABLE mixed, cust, ord, accounts, ledger, readings, readings_feb, unrelated_log CASCADE;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE NOT tgisinternal AND tgrelid NOT IN (SELECT oid FROM pg_class WHERE relnamespace = 'reporting'::regnamespace);

DROP SCHEMA theirs CASCADE;
DROP MATERIALIZED VIEW remote_totals, unregistered;
DROP FOREIGN TABLE remote_orders;
DROP SERVER regress_reporting_server;
DROP FOREIGN DATA WRAPPER regress_reporting_fdw;
DROP TABLE orders, customers, locked_down, events, events_2025 CASCADE;
DROP OWNED BY regress_reporting_tracker;
RESET client_min_messages;
DROP ROLE regress_reporting_tracker;
SELECT count(*) AS registrations FROM reporting.registrations;
