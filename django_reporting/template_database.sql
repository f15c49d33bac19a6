-- Test databases without a superuser: the template-database recipe.
--
-- The reporting extension is not trusted (see the README's "Security
-- model"), so an application role cannot CREATE EXTENSION reporting in the
-- test database Django's test runner creates.  A superuser installs it once
-- in a template, grants the application's role what it uses, and marks the
-- template so that a role with CREATEDB may copy it; Django's test runner
-- copies it (DATABASES[...]["TEST"]["TEMPLATE"]).  Run as a superuser:
--
--   psql -v role=shop -v template=shop_template -v app=shop -f template_database.sql
--
-- role      the application's login role (created here: NOSUPERUSER CREATEDB)
-- template  the template database (created here)
-- app       the application's own database (created here from the template,
--           owned by the role)

\set ON_ERROR_STOP on
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER CREATEDB', :'role') AS sql \gset
:sql;
SELECT format('CREATE DATABASE %I', :'template') AS sql \gset
:sql;
\connect :template
CREATE EXTENSION reporting;
-- what the companion uses (migrations, refresh commands, test helpers)
SELECT format('GRANT EXECUTE ON FUNCTION
    reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text),
    reporting.unregister(regclass),
    reporting.refresh(regclass, text),
    reporting.refresh_all(),
    reporting.grant_refresh(regclass, regrole),
    reporting.revoke_refresh(regclass, regrole),
    reporting.redefine(regclass, text),
    reporting.pause_scheduling(interval)
  TO %I', :'role') AS sql \gset
:sql;
\connect postgres
-- a template: any role with CREATEDB may copy it, and no scheduler runs in it
SELECT format('ALTER DATABASE %I IS_TEMPLATE true', :'template') AS sql \gset
:sql;
SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE %I', :'app', :'role', :'template') AS sql \gset
:sql;
