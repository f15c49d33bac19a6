-- Upgrade path: a database on 0.1.0 keeps working with the new library, and
-- ALTER EXTENSION reporting UPDATE brings it to the current version with its
-- registrations and history intact.

SET client_min_messages = warning;
DROP EXTENSION reporting CASCADE;
CREATE EXTENSION reporting VERSION '0.1.0';
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'reporting';

CREATE TABLE orders (id int PRIMARY KEY, total bigint NOT NULL);
INSERT INTO orders SELECT g, g FROM generate_series(1, 10) g;
CREATE MATERIALIZED VIEW totals AS SELECT 1 AS k, sum(total) AS s FROM orders;
CREATE UNIQUE INDEX ON totals (k);

-- the 0.1.0 API works with the current library
SELECT reporting.register('totals', every => '5 minutes');
SELECT mode, rows FROM reporting.refresh('totals');
SELECT view, status, mode FROM reporting.refresh_all();
SELECT count(*) AS triggers FROM pg_trigger WHERE tgname = 'reporting_track_changes';

ALTER EXTENSION reporting UPDATE TO '0.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'reporting';

-- registrations and history survive; runs from before have no generations,
-- so freshness is unknown until the next refresh
SELECT view, every, mode FROM reporting.registrations;
SELECT count(*) AS runs, count(tracked_sources) AS runs_with_generations FROM reporting.runs;
SELECT sources_changed, unknown_reason FROM reporting.status;
-- the update added the triggers; the next refresh records generations
SELECT tgrelid::regclass AS tracked FROM pg_trigger WHERE tgname = 'reporting_track_changes';
SELECT mode FROM reporting.refresh('totals');
SELECT sources_changed, unknown_reason FROM reporting.status;
INSERT INTO orders VALUES (11, 11);
SELECT sources_changed, source_changes FROM reporting.status;
-- 0.3.0: refresh_all hands the refresh to a worker (no NOTICE any more), and
-- status says when the scheduler refreshes next
SELECT view, status, mode FROM reporting.refresh_all();
SELECT origin, status FROM reporting.runs ORDER BY id DESC LIMIT 1;
SELECT next_refresh_at > last_started_at AS next_is_later, consecutive_failures FROM reporting.status;
SELECT count(*) AS running FROM reporting.running;


-- 0.4.0: tracking needs no trigger.  A trigger that cannot be dropped during
-- the update (here: a prepared transaction holds a lock on its table) is left
-- with a WARNING saying how to drop it later, after waiting a moment; the
-- others go.
CREATE TABLE customers (id int PRIMARY KEY);
CREATE TABLE sales (id int PRIMARY KEY, customer int REFERENCES customers);
CREATE MATERIALIZED VIEW sales_count AS SELECT 1 AS k, count(*) AS n FROM sales;
CREATE UNIQUE INDEX ON sales_count (k);
SELECT reporting.register('sales_count');
SELECT tgrelid::regclass AS tracked FROM pg_trigger WHERE tgname = 'reporting_track_changes' ORDER BY tgrelid::regclass::text COLLATE "C";
SELECT mode FROM reporting.refresh('totals');
BEGIN;
LOCK TABLE sales IN ACCESS SHARE MODE;
PREPARE TRANSACTION 'regress_reporting_holds_sales';
ALTER EXTENSION reporting UPDATE;
ROLLBACK PREPARED 'regress_reporting_holds_sales';
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'reporting') AS current
  FROM pg_extension WHERE extname = 'reporting';
SELECT tgrelid::regclass AS left_behind FROM pg_trigger WHERE NOT tgisinternal AND tgrelid NOT IN (SELECT oid FROM pg_class WHERE relnamespace = 'reporting'::regnamespace) ORDER BY tgrelid::regclass::text COLLATE "C";
-- the functions that kept triggers in step are gone
SELECT count(*) AS trigger_upkeep FROM pg_proc
 WHERE pronamespace = 'reporting'::regnamespace
   AND proname IN ('_attach_triggers', '_add_trigger', '_detach_unneeded_triggers', '_track_new_partitions');
-- runs from before the update do not say which database their generations
-- belong to: unknown until the next refresh
SELECT view, sources_changed, unknown_reason FROM reporting.status ORDER BY view::text COLLATE "C";
SELECT mode FROM reporting.refresh('totals');
SELECT view, sources_changed FROM reporting.status ORDER BY view::text COLLATE "C";
INSERT INTO orders VALUES (12, 12);
SELECT view, sources_changed, source_changes FROM reporting.status ORDER BY view::text COLLATE "C";
-- the trigger left behind is harmless and can be dropped by hand
DROP TRIGGER reporting_track_changes ON sales;

SET client_min_messages = warning;
DROP TABLE orders, sales, customers CASCADE;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE NOT tgisinternal AND tgrelid NOT IN (SELECT oid FROM pg_class WHERE relnamespace = 'reporting'::regnamespace);
