-- The reporting extension: registration, refresh, freshness of reports.
CREATE EXTENSION IF NOT EXISTS reporting;
