-- Who may do what: only the owner of a view (a member of the owning role,
-- or a superuser) registers, unregisters or refreshes it; the catalog
-- cannot be written directly; each user sees only their own views;
-- refreshes run as the view's owner; nobody's objects can hijack ours.

CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text; msg text; hint text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN state || ': ' || msg || CASE WHEN hint <> '' THEN ' (hint: ' || hint || ')' ELSE '' END;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;

CREATE ROLE regress_reporting_owner;
CREATE ROLE regress_reporting_member IN ROLE regress_reporting_owner;
CREATE ROLE regress_reporting_other;
CREATE SCHEMA app AUTHORIZATION regress_reporting_owner;
GRANT USAGE ON SCHEMA app TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text),
    reporting.unregister(regclass),
    reporting.refresh(regclass, text),
    reporting.refresh_all()
  TO regress_reporting_owner, regress_reporting_member, regress_reporting_other;

-- the writing functions are not open to PUBLIC
CREATE ROLE regress_reporting_nobody;
SET ROLE regress_reporting_nobody;
SELECT pg_temp.try($$SELECT reporting.refresh_all()$$);
RESET ROLE;

SET ROLE regress_reporting_owner;
CREATE TABLE app.orders (id int PRIMARY KEY, total_cents bigint NOT NULL);
INSERT INTO app.orders SELECT g, g FROM generate_series(1, 10) g;
-- who runs the query when the view is refreshed
CREATE MATERIALIZED VIEW app.whoami AS SELECT current_user::text AS who, count(*) AS n FROM app.orders;
CREATE UNIQUE INDEX ON app.whoami (who);
CREATE MATERIALIZED VIEW app.other_report AS SELECT sum(total_cents) AS s FROM app.orders;
RESET ROLE;

-- a stranger can neither register, refresh nor unregister it, and nothing is written
SET ROLE regress_reporting_other;
SELECT pg_temp.try($$SELECT reporting.register('app.whoami')$$);
SELECT pg_temp.try($$SELECT reporting.refresh('app.whoami')$$);
SELECT pg_temp.try($$SELECT reporting.unregister('app.whoami')$$);
RESET ROLE;
SELECT count(*) AS registrations FROM reporting.registrations;

-- the owner can; so can a member of the owning role
SET ROLE regress_reporting_owner;
SELECT reporting.register('app.whoami', every => '1 hour');
RESET ROLE;
SET ROLE regress_reporting_member;
SELECT reporting.register('app.other_report', mode => 'plain');
SELECT mode, rows FROM reporting.refresh('app.other_report');
RESET ROLE;

-- the catalog cannot be changed directly by ordinary users
SET ROLE regress_reporting_owner;
SELECT pg_temp.try($$INSERT INTO reporting.registrations (view) VALUES ('app.other_report')$$);
SELECT pg_temp.try($$UPDATE reporting.registrations SET mode = 'plain'$$);
SELECT pg_temp.try($$DELETE FROM reporting.registrations$$);
SELECT pg_temp.try($$DELETE FROM reporting.runs$$);
SELECT pg_temp.try($$TRUNCATE reporting.runs$$);
SELECT pg_temp.try($$SELECT reporting._forget_dropped_views()$$);
RESET ROLE;

-- refresh runs REFRESH as the view's owner, even when a superuser asks
SELECT mode, rows FROM reporting.refresh('app.whoami');
SELECT who FROM app.whoami;
SELECT view, started_by FROM reporting.runs ORDER BY id;

-- each user sees only the registrations, history and status of views they may manage
SET ROLE regress_reporting_other;
SELECT count(*) AS registrations FROM reporting.registrations;
SELECT count(*) AS runs FROM reporting.runs;
SELECT count(*) AS status_rows FROM reporting.status;
SELECT count(*) AS source_rows FROM reporting.sources;
SELECT count(*) AS health_rows FROM reporting.source_health;
-- and refresh_all refreshes only what the caller may refresh
SELECT * FROM reporting.refresh_all();
RESET ROLE;
SET ROLE regress_reporting_member;
SELECT view, last_status FROM reporting.status ORDER BY view::text COLLATE "C";
SELECT view, status, mode, rows FROM reporting.refresh_all();
SELECT who FROM app.whoami;
RESET ROLE;

-- another user's view, created next to ours, stays out of our refresh_all
CREATE MATERIALIZED VIEW public.admin_report AS SELECT 1 AS k;
SELECT reporting.register('admin_report');
SET ROLE regress_reporting_owner;
SELECT view, status FROM reporting.refresh_all();
RESET ROLE;
SELECT count(*) AS admin_runs FROM reporting.runs WHERE view = 'admin_report'::regclass;

-- objects a user puts first on the search_path cannot hijack the extension
CREATE SCHEMA evil;
CREATE FUNCTION evil.trap(oid, oid) RETURNS bool LANGUAGE plpgsql AS
  $$BEGIN RAISE EXCEPTION 'hijacked'; END$$;
CREATE OPERATOR evil.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = evil.trap);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
  $$BEGIN RAISE EXCEPTION 'hijacked'; END$$;
CREATE FUNCTION evil.count(anyelement) RETURNS bigint LANGUAGE plpgsql AS
  $$BEGIN RAISE EXCEPTION 'hijacked'; END$$;
CREATE TABLE evil.registrations (view regclass);
SET search_path = evil, pg_catalog, public;
SELECT reporting.register('app.whoami', every => '2 hours');
SELECT mode FROM reporting.refresh('app.whoami');
SELECT view, status FROM reporting.refresh_all();
SELECT view, schedule FROM reporting.status ORDER BY view::text COLLATE "C";
SELECT count(*) FROM reporting.sources;
SELECT count(*) FROM reporting.source_health;
-- and CREATE EXTENSION itself is not hijacked (CASCADE: the change-tracking
-- triggers on app.orders depend on the extension's trigger function)
SET client_min_messages = warning;
DROP EXTENSION reporting CASCADE;
RESET client_min_messages;
CREATE EXTENSION reporting;
RESET search_path;
DROP SCHEMA evil CASCADE;

SET client_min_messages = warning;
-- clean up
DROP SCHEMA app CASCADE;
DROP MATERIALIZED VIEW public.admin_report;
DROP OWNED BY regress_reporting_owner, regress_reporting_member, regress_reporting_other, regress_reporting_nobody;
DROP ROLE regress_reporting_member, regress_reporting_owner, regress_reporting_other, regress_reporting_nobody;
