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

-- (workers section)

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
