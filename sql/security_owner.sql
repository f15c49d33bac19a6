-- Issue 9, part 2: owners.  A refresh runs the view's query as its owner,
-- so the extension must never be what runs a query as a superuser that no
-- superuser asked for:
--  1. a view that changes hands after registration (ALTER ... OWNER TO) is
--     no longer refreshed by the scheduler or refresh_all() until its new
--     owner registers it again; status says so and what to do;
--  2. a view owned by a superuser is not refreshed by the scheduler, nor
--     for a role that is not a superuser, while
--     reporting.enable_superuser_refresh is off (the default);
--  3. a trojan function in a view (owned by another role) never runs as a
--     superuser through any of that;
--  4. delegated refresh: grant_refresh / revoke_refresh, by the owner only,
--     the refresh still running as the owner, lapsing when the view
--     changes hands.
-- (REASSIGN OWNED and the scheduler across a whole cluster: test/t/006.)

CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text; msg text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN state || ': ' || msg;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;

CREATE FUNCTION pg_temp.wait_until(condition text, seconds int DEFAULT 30) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
BEGIN
    FOR i IN 1 .. seconds * 20 LOOP
        EXECUTE condition INTO ok;
        IF ok THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RAISE WARNING 'still false after % seconds: %', seconds, condition;
    RETURN false;
END $$;

SHOW reporting.enable_superuser_refresh;

CREATE ROLE regress_sec_alice;
CREATE ROLE regress_sec_bob;
CREATE ROLE regress_sec_carol;
CREATE SCHEMA sec AUTHORIZATION regress_sec_alice;
GRANT USAGE ON SCHEMA sec TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text),
    reporting.refresh(regclass, text),
    reporting.refresh_all(),
    reporting.grant_refresh(regclass, regrole),
    reporting.revoke_refresh(regclass, regrole)
  TO regress_sec_alice, regress_sec_bob, regress_sec_carol;

-- bob's function, called by alice's view: it notes who runs it and, run by
-- a superuser, makes bob one
CREATE TABLE public.audit (who name, superuser bool);
GRANT INSERT ON public.audit TO PUBLIC;
CREATE FUNCTION public.bobs_rate() RETURNS int LANGUAGE plpgsql
SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO public.audit SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER ROLE regress_sec_bob SUPERUSER;
    END IF;
    RETURN 1;
END $$;
ALTER FUNCTION public.bobs_rate() OWNER TO regress_sec_bob;
GRANT EXECUTE ON FUNCTION public.bobs_rate() TO PUBLIC;
CREATE VIEW pg_temp.verdict AS
SELECT (SELECT count(*) FILTER (WHERE superuser) FROM public.audit) AS ran_as_superuser,
       (SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_sec_bob') AS bob_is_superuser;

SET ROLE regress_sec_alice;
CREATE TABLE sec.orders (id int PRIMARY KEY);
INSERT INTO sec.orders SELECT generate_series(1, 5);
CREATE MATERIALIZED VIEW sec.report AS
    SELECT 1 AS k, count(*) AS n, max(public.bobs_rate()) AS rate, current_user::text AS who FROM sec.orders;
CREATE UNIQUE INDEX ON sec.report (k);
SELECT reporting.register('sec.report', every => '1 second', refresh_when => 'always');
RESET ROLE;
SELECT pg_temp.wait_until($$SELECT count(*) > 0 FROM reporting.runs
                              WHERE view = 'sec.report'::regclass AND origin = 'schedule' AND status = 'refreshed'$$)
       AS scheduled_as_alice;
SELECT view, owner, registered_owner, refresh_blocked FROM reporting.status;

-- 1. the view changes hands: to a superuser
SELECT reporting.register('sec.report');       -- manual only, for now
ALTER MATERIALIZED VIEW sec.report OWNER TO CURRENT_USER;
SELECT view, owner = current_user::regrole AS owned_by_me, registered_owner, refresh_blocked, refresh_blocked_hint
  FROM reporting.status;
-- refresh_all skips it, in workers and in the session alike
SELECT view, status, error FROM reporting.refresh_all();
BEGIN;
CREATE TEMP TABLE force_session (x int);
INSERT INTO force_session VALUES (1);
SELECT view, status, error FROM reporting.refresh_all();
ROLLBACK;
-- alice, no longer its owner, cannot register it again
SET ROLE regress_sec_alice;
SELECT pg_temp.try($$SELECT reporting.register('sec.report', every => '1 second', refresh_when => 'always')$$);
RESET ROLE;
-- and the scheduler skips it, saying why, with the schedule alice gave it
-- before she lost it
ALTER MATERIALIZED VIEW sec.report OWNER TO regress_sec_alice;
SET ROLE regress_sec_alice;
SELECT reporting.register('sec.report', every => '1 second', refresh_when => 'always');
RESET ROLE;
ALTER MATERIALIZED VIEW sec.report OWNER TO CURRENT_USER;
SELECT pg_temp.wait_until($$SELECT count(*) >= 2 FROM reporting.runs
                              WHERE view = 'sec.report'::regclass AND origin = 'schedule' AND status = 'skipped'
                                AND error LIKE 'the owner of the materialized view changed%'$$)
       AS scheduler_skips_it;
SELECT DISTINCT status, error FROM reporting.runs
 WHERE view = 'sec.report'::regclass AND origin = 'schedule' AND status <> 'refreshed';

-- 2. registered again by its new owner, a superuser: the scheduler still
-- does not run it, because it would run as a superuser
SELECT reporting.register('sec.report', every => '1 second', refresh_when => 'always');
SELECT registered_owner = current_user::regrole AS registered_by_me, refresh_blocked, refresh_blocked_hint
  FROM reporting.status;
SELECT pg_temp.wait_until($$SELECT count(*) >= 2 FROM reporting.runs
                              WHERE view = 'sec.report'::regclass AND origin = 'schedule' AND status = 'skipped'
                                AND error LIKE 'the materialized view is owned by superuser%'$$)
       AS scheduler_skips_superuser_view;
SELECT reporting.register('sec.report');       -- manual only again
SELECT * FROM pg_temp.verdict;

-- 3. back to alice, who registers it again: scheduled, as alice
ALTER MATERIALIZED VIEW sec.report OWNER TO regress_sec_alice;
SELECT refresh_blocked FROM reporting.status;
SET ROLE regress_sec_alice;
SELECT reporting.register('sec.report', every => '1 second', refresh_when => 'always');
RESET ROLE;
SELECT refresh_blocked IS NULL AS scheduled_again FROM reporting.status;
CREATE TEMP TABLE resumed_at AS SELECT clock_timestamp() AS at;
SELECT pg_temp.wait_until($$SELECT count(*) > 0 FROM reporting.runs
                              WHERE view = 'sec.report'::regclass AND origin = 'schedule' AND status = 'refreshed'
                                AND started_at > (SELECT at FROM resumed_at)$$)
       AS scheduled_again_as_alice;
SELECT reporting.register('sec.report');
SELECT DISTINCT who FROM public.audit ORDER BY 1;
SELECT * FROM pg_temp.verdict;

-- 4. delegated refresh
CREATE MATERIALIZED VIEW sec.whoami AS SELECT 1 AS k, current_user::text AS who;
CREATE UNIQUE INDEX ON sec.whoami (k);
ALTER MATERIALIZED VIEW sec.whoami OWNER TO regress_sec_alice;
-- not PUBLIC's to call
SELECT has_function_privilege('public', 'reporting.grant_refresh(regclass, regrole)', 'EXECUTE') AS public_may_grant,
       has_function_privilege('public', 'reporting.revoke_refresh(regclass, regrole)', 'EXECUTE') AS public_may_revoke;
SET ROLE regress_sec_alice;
-- bad input
SELECT pg_temp.try($$SELECT reporting.grant_refresh(NULL, 'regress_sec_bob')$$);
SELECT pg_temp.try($$SELECT reporting.grant_refresh('sec.whoami', NULL)$$);
SELECT pg_temp.try($$SELECT reporting.grant_refresh('sec.orders', 'regress_sec_bob')$$);
SELECT pg_temp.try($$SELECT reporting.grant_refresh('sec.whoami', 'regress_sec_nobody')$$);
SELECT pg_temp.try($$SELECT reporting.grant_refresh('sec.whoami', 'regress_sec_bob')$$);
SELECT reporting.register('sec.whoami', refresh_when => 'always');
SELECT reporting.grant_refresh('sec.whoami', 'regress_sec_bob');
SELECT reporting.grant_refresh('sec.whoami', 'regress_sec_bob');   -- again: no error
RESET ROLE;
-- only the owner grants
SET ROLE regress_sec_carol;
SELECT pg_temp.try($$SELECT reporting.grant_refresh('sec.whoami', 'regress_sec_carol')$$);
SELECT pg_temp.try($$SELECT reporting.revoke_refresh('sec.whoami', 'regress_sec_bob')$$);
SELECT count(*) AS grants_carol_sees FROM reporting.refresh_grants;
SELECT count(*) AS status_rows_carol_sees FROM reporting.status;
SELECT pg_temp.try($$SELECT reporting.refresh('sec.whoami')$$);
-- nobody writes the table directly
SELECT pg_temp.try($$INSERT INTO reporting.refresh_grants (view, grantee, granted_by)
                     VALUES ('sec.whoami', 'regress_sec_carol', 'regress_sec_alice')$$);
RESET ROLE;
-- bob refreshes it, as alice; sees it in status and in refresh_all
SET ROLE regress_sec_bob;
SELECT count(*) AS grants_bob_sees FROM reporting.refresh_grants;
SELECT mode FROM reporting.refresh('sec.whoami');
SELECT view, status FROM reporting.refresh_all();
SELECT view, owner, refresh_grantees FROM reporting.status;
SELECT pg_temp.try($$INSERT INTO reporting.refresh_grants (view, grantee, granted_by)
                     VALUES ('sec.whoami', 'regress_sec_carol', 'regress_sec_alice')$$);
SELECT pg_temp.try($$DELETE FROM reporting.refresh_grants$$);
SELECT pg_temp.try($$SELECT reporting.revoke_refresh('sec.whoami', 'regress_sec_bob')$$);
RESET ROLE;
SELECT who FROM sec.whoami;
SELECT started_by, origin, status FROM reporting.runs WHERE view = 'sec.whoami'::regclass ORDER BY id;
-- the grant lapses when the view changes hands
ALTER MATERIALIZED VIEW sec.whoami OWNER TO regress_sec_carol;
SET ROLE regress_sec_bob;
SELECT pg_temp.try($$SELECT reporting.refresh('sec.whoami')$$);
SELECT count(*) AS status_rows_bob_sees FROM reporting.status;
RESET ROLE;
SET ROLE regress_sec_alice;
SELECT pg_temp.try($$SELECT reporting.grant_refresh('sec.whoami', 'regress_sec_bob')$$);
RESET ROLE;
-- carol, the new owner, must register it before granting; registering
-- forgets alice's grants
SET ROLE regress_sec_carol;
SELECT pg_temp.try($$SELECT reporting.grant_refresh('sec.whoami', 'regress_sec_bob')$$);
SELECT reporting.register('sec.whoami');
RESET ROLE;
SELECT count(*) AS grants_left FROM reporting.refresh_grants;
-- a superuser's view cannot be refreshed through a grant while the setting is off
CREATE MATERIALIZED VIEW sec.admin_report AS SELECT 1 AS k;
CREATE UNIQUE INDEX ON sec.admin_report (k);
SELECT reporting.register('sec.admin_report', refresh_when => 'always');
SELECT reporting.grant_refresh('sec.admin_report', 'regress_sec_bob');
SET ROLE regress_sec_bob;
SELECT pg_temp.try($$SELECT reporting.refresh('sec.admin_report')$$);
SELECT view, status, error FROM reporting.refresh_all();
RESET ROLE;
-- a superuser's own refresh() and refresh_all() are that superuser's act
SELECT mode FROM reporting.refresh('sec.admin_report');
SELECT view, status FROM reporting.refresh_all() WHERE view = 'sec.admin_report'::regclass;
-- revoking; revoking what is not granted only says so
SELECT reporting.revoke_refresh('sec.admin_report', 'regress_sec_bob');
SELECT reporting.revoke_refresh('sec.admin_report', 'regress_sec_bob');
-- unregistering forgets the grants
SET ROLE regress_sec_carol;
SELECT reporting.grant_refresh('sec.whoami', 'regress_sec_bob');
RESET ROLE;
SELECT count(*) AS grants FROM reporting.refresh_grants;
SELECT reporting.unregister('sec.whoami');
SELECT count(*) AS grants FROM reporting.refresh_grants;
SELECT * FROM pg_temp.verdict;

-- clean up
SET client_min_messages = warning;
SELECT count(reporting.unregister(view)) AS unregistered FROM reporting.registrations;
DROP VIEW pg_temp.verdict;
DROP SCHEMA sec CASCADE;
DROP TABLE public.audit;
DROP FUNCTION public.bobs_rate();
DROP OWNED BY regress_sec_alice, regress_sec_bob, regress_sec_carol;
DROP ROLE regress_sec_alice, regress_sec_bob, regress_sec_carol;
