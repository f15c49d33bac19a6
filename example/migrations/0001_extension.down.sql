-- Without CASCADE: if a report is still registered (0005 not undone), this
-- fails instead of silently dropping what depends on the extension.
DROP EXTENSION IF EXISTS reporting;
