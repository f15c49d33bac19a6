-- The scheduler: views registered with a schedule are refreshed by
-- background workers without anyone calling refresh; unchanged ones are
-- skipped, max_age forces a refresh, a view built on another waits for it,
-- failures back off, and the refresh runs as the view's owner.
--
-- Everything here waits for a state with a bound (pg_temp.wait_until), never
-- for a fixed time, and prints only what does not depend on timing.

CREATE FUNCTION pg_temp.wait_until(condition text, seconds int DEFAULT 30) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
BEGIN
    FOR i IN 1 .. seconds * 20 LOOP
        BEGIN
            EXECUTE condition INTO ok;
        EXCEPTION WHEN object_not_in_prerequisite_state THEN
            ok := false;        -- a view not populated yet
        END;
        IF ok THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RAISE WARNING 'still false after % seconds: %', seconds, condition;
    RETURN false;
END $$;

CREATE FUNCTION pg_temp.runs_of(v regclass, want text) RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*) FROM reporting.runs WHERE view = v AND origin = 'schedule' AND status = want
$$;

SHOW reporting.enabled;

-- The views below belong to the superuser running this test; the scheduler
-- refreshes a superuser's views only when a superuser has turned
-- reporting.enable_superuser_refresh on (security_owner: what happens when
-- it is off).  Turned off again at the end.
ALTER SYSTEM SET reporting.enable_superuser_refresh = on;
SELECT pg_reload_conf();
-- (a session takes a reload between statements only, so this session may
-- not see it yet; the scheduler does, at once, and the waits below show it)
SELECT setting AS superuser_refresh_on FROM pg_file_settings
 WHERE name = 'reporting.enable_superuser_refresh' AND applied;

CREATE TABLE sched_orders (id int PRIMARY KEY, total bigint NOT NULL);
INSERT INTO sched_orders SELECT g, g FROM generate_series(1, 10) g;

-- 1. refreshed with nobody calling refresh, then skipped while unchanged
CREATE MATERIALIZED VIEW sched_totals AS SELECT 1 AS k, count(*) AS n, sum(total) AS s FROM sched_orders
  WITH NO DATA;
CREATE UNIQUE INDEX ON sched_totals (k);
SELECT reporting.register('sched_totals', every => '1 second');
SELECT pg_temp.wait_until($$SELECT pg_temp.runs_of('sched_totals', 'refreshed') >= 1$$) AS refreshed_by_the_scheduler;
SELECT n, s FROM sched_totals;
SELECT pg_temp.wait_until($$SELECT pg_temp.runs_of('sched_totals', 'skipped') >= 2$$) AS skipped_while_unchanged;
SELECT DISTINCT error FROM reporting.runs WHERE view = 'sched_totals'::regclass AND status = 'skipped';
-- a committed change is picked up at the next due time
INSERT INTO sched_orders VALUES (11, 11);
SELECT pg_temp.wait_until($$SELECT n = 11 FROM sched_totals$$) AS change_picked_up;
SELECT mode, started_by FROM reporting.runs
 WHERE view = 'sched_totals'::regclass AND status = 'refreshed' ORDER BY id DESC LIMIT 1;
SELECT next_refresh_at > last_started_at AS next_after_last, consecutive_failures, retry_at IS NULL AS no_retry
  FROM reporting.status WHERE view = 'sched_totals'::regclass;

-- 2. max_age forces a refresh of an unchanged view
SELECT reporting.register('sched_totals', every => '1 second', max_age => '2 seconds');
CREATE TEMP TABLE max_age_start AS SELECT clock_timestamp() AS at;
SELECT pg_temp.wait_until($$
    SELECT count(*) >= 2 FROM reporting.runs
     WHERE view = 'sched_totals'::regclass AND origin = 'schedule' AND status = 'refreshed'
       AND started_at > (SELECT at FROM max_age_start)
$$) AS max_age_forced_refreshes;
-- the data did not change: between forced refreshes it was skipped
SELECT count(*) > 0 AS skipped_in_between FROM reporting.runs
 WHERE view = 'sched_totals'::regclass AND status = 'skipped' AND started_at > (SELECT at FROM max_age_start);
SELECT bool_and(gap < interval '3 seconds') AS never_older_than_max_age_and_a_second
  FROM (SELECT started_at - lag(started_at) OVER (ORDER BY started_at) AS gap
          FROM reporting.runs WHERE view = 'sched_totals'::regclass AND status = 'refreshed'
           AND started_at > (SELECT at FROM max_age_start)) g
 WHERE gap IS NOT NULL;
SELECT reporting.unregister('sched_totals');

-- 3. a view built on another is refreshed after it
CREATE MATERIALIZED VIEW sched_base AS SELECT id, total FROM sched_orders WITH NO DATA;
CREATE UNIQUE INDEX ON sched_base (id);
CREATE MATERIALIZED VIEW sched_top AS SELECT 1 AS k, max(total) AS top FROM sched_base WITH NO DATA;
CREATE UNIQUE INDEX ON sched_top (k);
SELECT reporting.register('sched_base', every => '1 second');
SELECT reporting.register('sched_top', every => '1 second');
SELECT pg_temp.wait_until($$SELECT top = 11 FROM sched_top$$) AS downstream_refreshed;
INSERT INTO sched_orders VALUES (12, 1000);
SELECT pg_temp.wait_until($$SELECT top = 1000 FROM sched_top$$) AS downstream_sees_new_row;
-- the downstream refresh that saw the row started after the upstream one finished
SELECT (SELECT min(started_at) FROM reporting.runs WHERE view = 'sched_top'::regclass AND status = 'refreshed'
           AND started_at > (SELECT max(finished_at) FROM reporting.runs
                              WHERE view = 'sched_base'::regclass AND status = 'refreshed'
                                AND started_at < (SELECT max(started_at) FROM reporting.runs
                                                   WHERE view = 'sched_top'::regclass AND status = 'refreshed')))
       IS NOT NULL AS upstream_first;
SELECT reporting.unregister('sched_top');
SELECT reporting.unregister('sched_base');

-- 4. a failure is recorded with its SQLSTATE and retried with backoff
CREATE TABLE sched_divisor (d int NOT NULL);
INSERT INTO sched_divisor VALUES (0);
CREATE MATERIALIZED VIEW sched_ratio AS SELECT 100 / d AS ratio FROM sched_divisor WITH NO DATA;
SELECT reporting.register('sched_ratio', every => '1 second', refresh_when => 'always');
SELECT pg_temp.wait_until($$SELECT pg_temp.runs_of('sched_ratio', 'failed') >= 1$$) AS failed;
SELECT status, error, sqlstate FROM reporting.runs WHERE view = 'sched_ratio'::regclass ORDER BY id LIMIT 1;
SELECT consecutive_failures,
       retry_at - (SELECT finished_at FROM reporting.runs WHERE view = 'sched_ratio'::regclass
                    ORDER BY id DESC LIMIT 1) AS first_backoff,
       next_refresh_at = retry_at AS waits_for_retry,
       last_sqlstate
  FROM reporting.status WHERE view = 'sched_ratio'::regclass;
-- the second failure waits twice as long
SELECT pg_temp.wait_until($$SELECT pg_temp.runs_of('sched_ratio', 'failed') >= 2$$, 20) AS failed_again;
SELECT consecutive_failures,
       retry_at - (SELECT finished_at FROM reporting.runs WHERE view = 'sched_ratio'::regclass
                    ORDER BY id DESC LIMIT 1) AS second_backoff
  FROM reporting.status WHERE view = 'sched_ratio'::regclass;
SELECT (SELECT started_at FROM reporting.runs WHERE view = 'sched_ratio'::regclass ORDER BY id DESC LIMIT 1)
     - (SELECT finished_at FROM reporting.runs WHERE view = 'sched_ratio'::regclass ORDER BY id LIMIT 1)
       >= interval '10 seconds' AS retried_after_backoff;
SELECT reporting.unregister('sched_ratio');

-- 5. the refresh runs as the view's owner, connected as that role when it
-- may log in, and become that role when it may not
CREATE ROLE regress_reporting_login LOGIN;
CREATE ROLE regress_reporting_nologin NOLOGIN;
GRANT CREATE ON SCHEMA public TO regress_reporting_login, regress_reporting_nologin;
GRANT EXECUTE ON FUNCTION reporting.register, reporting.unregister
   TO regress_reporting_login, regress_reporting_nologin;
SET ROLE regress_reporting_login;
CREATE MATERIALIZED VIEW sched_who_login AS SELECT current_user::text AS cu, session_user::text AS su WITH NO DATA;
SELECT reporting.register('sched_who_login', every => '1 second', refresh_when => 'always');
RESET ROLE;
SET ROLE regress_reporting_nologin;
CREATE MATERIALIZED VIEW sched_who_nologin AS SELECT current_user::text AS cu, session_user::text AS su WITH NO DATA;
SELECT reporting.register('sched_who_nologin', every => '1 second', refresh_when => 'always');
RESET ROLE;
SELECT pg_temp.wait_until($$SELECT pg_temp.runs_of('sched_who_login', 'refreshed') >= 1
                             AND pg_temp.runs_of('sched_who_nologin', 'refreshed') >= 1$$) AS both_refreshed;
SELECT cu, su FROM sched_who_login;
SELECT cu, su FROM sched_who_nologin;
SELECT DISTINCT view, started_by FROM reporting.runs
 WHERE view IN ('sched_who_login'::regclass, 'sched_who_nologin'::regclass) AND status = 'refreshed'
 ORDER BY 1;
SELECT reporting.unregister('sched_who_login');
SELECT reporting.unregister('sched_who_nologin');

-- 6. refresh_all runs independent views in workers, and says so in runs
CREATE MATERIALIZED VIEW sched_a AS SELECT count(*) AS n FROM sched_orders WITH NO DATA;
CREATE MATERIALIZED VIEW sched_b AS SELECT sum(total) AS s FROM sched_orders WITH NO DATA;
SELECT reporting.register('sched_a');
SELECT reporting.register('sched_b');
SELECT view, status, mode, rows FROM reporting.refresh_all()
 WHERE view IN ('sched_a'::regclass, 'sched_b'::regclass) ORDER BY view::text;
SELECT view, origin, started_by FROM reporting.runs
 WHERE view IN ('sched_a'::regclass, 'sched_b'::regclass) ORDER BY view::text;
-- in a transaction that has written, the workers could not see the write:
-- it refreshes in this session
BEGIN;
INSERT INTO sched_orders VALUES (13, 13);
SELECT view, status FROM reporting.refresh_all()
 WHERE view IN ('sched_a'::regclass, 'sched_b'::regclass) ORDER BY view::text;
SELECT n FROM sched_a;
ROLLBACK;
SELECT reporting.unregister('sched_a');
SELECT reporting.unregister('sched_b');

-- nothing left running
SELECT pg_temp.wait_until($$SELECT count(*) = 0 FROM reporting.running$$) AS nothing_running;

SET client_min_messages = warning;
DROP TABLE sched_orders, sched_divisor CASCADE;
DROP MATERIALIZED VIEW sched_who_login, sched_who_nologin;
REVOKE CREATE ON SCHEMA public FROM regress_reporting_login, regress_reporting_nologin;
REVOKE EXECUTE ON FUNCTION reporting.register, reporting.unregister
  FROM regress_reporting_login, regress_reporting_nologin;
DROP ROLE regress_reporting_login, regress_reporting_nologin;
ALTER SYSTEM RESET reporting.enable_superuser_refresh;
SELECT pg_reload_conf();
