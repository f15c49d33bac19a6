-- reporting 0.4.0 -> 0.5.0: freshness at the cost of a lookup, a scheduler
-- that survives faults, reports redefined in migrations, incremental reports.
--
-- Each section below belongs to one concern; keep them apart.  Like the rest
-- of the scripts: every operator is OPERATOR(pg_catalog.x) and every function
-- schema-qualified, since the script runs with the extension's schema on its
-- search_path.

\echo Use "ALTER EXTENSION reporting UPDATE TO '0.5.0'" to load this file. \quit

-------------------------------------------------------------------------------
-- Freshness: one row per view at the cost of a lookup (issue 11)
-------------------------------------------------------------------------------

-- (freshness section)

-------------------------------------------------------------------------------
-- Refresh workers, their slots and the refresh paths (issue 12, part 1)
-------------------------------------------------------------------------------

-- The refresh-worker slots, for superusers: a slot whose requester and
-- worker are both gone is a leak (worker_slots.c reclaims it at the next
-- claim).
CREATE FUNCTION reporting.worker_slots(
    OUT slot pg_catalog.int4,
    OUT state pg_catalog.text,
    OUT serial pg_catalog.int8,
    OUT database pg_catalog.oid,
    OUT view pg_catalog.oid,
    OUT origin pg_catalog.text,
    OUT requester_alive pg_catalog.bool,
    OUT worker_alive pg_catalog.bool,
    OUT claimed_at pg_catalog.timestamptz,
    OUT status pg_catalog.text)
RETURNS SETOF record
LANGUAGE C VOLATILE ROWS 8
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_worker_slots';

REVOKE ALL ON FUNCTION reporting.worker_slots() FROM PUBLIC;

COMMENT ON FUNCTION reporting.worker_slots() IS
    'The refresh-worker slots (superusers only): state, the claim''s serial, the database and view, whether the requester and the worker still exist. Empty without the preloaded library.';

CREATE VIEW reporting.worker_slots WITH (security_invoker = true) AS
SELECT * FROM reporting.worker_slots();

REVOKE ALL ON reporting.worker_slots FROM PUBLIC;

COMMENT ON VIEW reporting.worker_slots IS
    'The refresh-worker slots (superusers only); see reporting.worker_slots().';

-------------------------------------------------------------------------------
-- The scheduler: decisions, faults and scale (issue 12, part 2)
-------------------------------------------------------------------------------

-- (scheduler section)

-------------------------------------------------------------------------------
-- Redefining reports in migrations (issue 13)
-------------------------------------------------------------------------------

-- (redefinition section)

-------------------------------------------------------------------------------
-- Incremental reports (issue 14)
-------------------------------------------------------------------------------

-- (incremental section)
