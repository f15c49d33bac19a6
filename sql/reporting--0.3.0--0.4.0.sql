-- reporting 0.3.0 -> 0.4.0: no path to superuser, and change tracking
-- without triggers.
--
-- Each section below belongs to one concern; keep them apart.

\echo Use "ALTER EXTENSION reporting UPDATE TO '0.4.0'" to load this file. \quit

-------------------------------------------------------------------------------
-- Security: the schema, owners, delegated refresh
-------------------------------------------------------------------------------

-- (security section)



-------------------------------------------------------------------------------
-- Change tracking without triggers
-------------------------------------------------------------------------------

-- (tracking section)



-------------------------------------------------------------------------------
-- End
-------------------------------------------------------------------------------
