-- The reporting extension: registration, refresh and freshness of the
-- reports (materialized views) created by the migrations that follow.
-- It needs shared_preload_libraries = 'reporting' for change tracking; see
-- the extension's README.
CREATE EXTENSION IF NOT EXISTS reporting;
