-- The reporting extension.  It is not trusted: a superuser installs it, in
-- the application's database and in the template its test databases are
-- copied from (README: "Test databases without a superuser"); here it is
-- already there and IF NOT EXISTS makes this a no-op for the application's
-- role.
CREATE EXTENSION IF NOT EXISTS reporting;
