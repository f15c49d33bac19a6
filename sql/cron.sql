-- Cron schedules: standard 5-field expressions are accepted, anything else
-- is refused with 22023 and a detail naming the faulty field.

CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text; msg text; detail text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    RETURN state || ': ' || msg || CASE WHEN detail <> '' THEN ' (' || detail || ')' ELSE '' END;
END $$;

CREATE MATERIALIZED VIEW cron_target AS SELECT 1 AS k;
CREATE UNIQUE INDEX ON cron_target (k);

SELECT expr, pg_temp.try(format('SELECT reporting.register(%L, cron => %L)', 'cron_target', expr)) AS result
  FROM (VALUES
    ('5 0 * * *'), ('*/5 * * * *'), ('0 9-17 * * mon-fri'), ('0,30 8,20 1,15 * *'),
    ('0 0 1 jan,jul *'), ('15 2 * * 7'), ('0 0 * * SUN'), ('5/10 * * * *'),
    ('  5   0  *  *  *  '), ('@daily'), ('@HOURLY'), ('@weekly'), ('@monthly'), ('@yearly'),
    ('0 0 29 2 *'), ('59 23 31 12 6'),
    -- refused
    (''), ('* * * *'), ('* * * * * *'), ('60 * * * *'), ('* 24 * * *'), ('* * 0 * *'),
    ('* * 32 * *'), ('* * * 13 *'), ('* * * * 8'), ('*/0 * * * *'), ('5-1 * * * *'),
    ('a * * * *'), ('* * * foo *'), ('1,,2 * * * *'), ('1- * * * *'), ('-1 * * * *'),
    ('@reboot'), ('@every 5m'), ('*/5x * * * *'), ('* * * * monday')
  ) AS t (expr);

-- a failed registration left nothing behind
SELECT cron FROM reporting.registrations;

DROP MATERIALIZED VIEW cron_target;

-- An expression that never matches a date is refused too
CREATE MATERIALIZED VIEW cron_target2 AS SELECT 1 AS k;
SELECT pg_temp.try($$SELECT reporting.register('cron_target2', cron => '0 0 31 2 *')$$);
SELECT pg_temp.try($$SELECT reporting.register('cron_target2', cron => '0 0 30 feb *')$$);
SELECT pg_temp.try($$SELECT reporting.register('cron_target2', cron => '0 0 31 4,6,9,11 *')$$);
SELECT pg_temp.try($$SELECT reporting.register('cron_target2', cron => '0 0 31 4,6,9,12 *')$$);
SELECT count(*) AS registered FROM reporting.registrations WHERE view = 'cron_target2'::regclass;
DROP MATERIALIZED VIEW cron_target2;

-- Next run times: reporting.cron_next(cron, timezone, after)
SET timezone = 'UTC';
SELECT expr, tz, after, reporting.cron_next(expr, tz, after) AS next
  FROM (VALUES
    ('5 0 * * *',        'UTC',              timestamptz '2025-06-10 00:04:59+00'),
    ('5 0 * * *',        'UTC',              timestamptz '2025-06-10 00:05:00+00'),
    ('5 0 * * *',        'Europe/Berlin',    timestamptz '2025-06-10 12:00:00+00'),
    ('*/15 * * * *',     'UTC',              timestamptz '2025-06-10 10:07:00+00'),
    ('0 9 * * mon-fri',  'UTC',              timestamptz '2025-06-13 17:00:00+00'),
    ('0 0 13 * 5',       'UTC',              timestamptz '2025-06-01 00:00:00+00'),
    ('0 0 13 * 5',       'UTC',              timestamptz '2025-06-06 00:00:00+00'),
    ('0 0 */10 * 1',     'UTC',              timestamptz '2025-06-01 00:00:00+00'),
    ('0 0 29 2 *',       'UTC',              timestamptz '2025-01-01 00:00:00+00'),
    ('59 23 31 12 *',    'UTC',              timestamptz '2025-12-31 23:59:00+00'),
    ('@monthly',         'Asia/Tokyo',       timestamptz '2025-01-31 15:00:00+00'),
    ('0 12 * * 0',       'America/New_York', timestamptz '2025-06-10 00:00:00+00')
  ) AS t (expr, tz, after);

-- Daylight saving: a job runs once per matching local time.
-- Europe/Berlin springs forward on 2025-03-30 (02:00 CET -> 03:00 CEST):
-- 02:30 does not exist that night; the job runs once, at 03:30 CEST
SELECT reporting.cron_next('30 2 * * *', 'Europe/Berlin', '2025-03-29 12:00+00') AS spring_forward,
       reporting.cron_next('30 2 * * *', 'Europe/Berlin',
           reporting.cron_next('30 2 * * *', 'Europe/Berlin', '2025-03-29 12:00+00')) AS next_day;
-- ... and falls back on 2025-10-26 (03:00 CEST -> 02:00 CET): 02:30 happens
-- twice that night; the job runs once
SELECT reporting.cron_next('30 2 * * *', 'Europe/Berlin', '2025-10-25 12:00+00') AS fall_back,
       reporting.cron_next('30 2 * * *', 'Europe/Berlin',
           reporting.cron_next('30 2 * * *', 'Europe/Berlin', '2025-10-25 12:00+00')) AS next_day;
-- a daily job outside the changed hour keeps its local time on both sides
SELECT reporting.cron_next('5 0 * * *', 'America/New_York', '2025-03-08 12:00+00') AS before_change,
       reporting.cron_next('5 0 * * *', 'America/New_York', '2025-03-09 12:00+00') AS after_change;
-- an hourly job runs every real hour across the spring change
SELECT array_agg(n ORDER BY n) AS hourly_runs FROM (
    WITH RECURSIVE r (n) AS (
        SELECT reporting.cron_next('0 * * * *', 'Europe/Berlin', '2025-03-29 23:30+00')
        UNION ALL
        SELECT reporting.cron_next('0 * * * *', 'Europe/Berlin', n) FROM r WHERE n < '2025-03-30 03:00+00')
    SELECT n FROM r) x;
-- ... and across the autumn change: 02:00 happens twice (00:00 and 01:00
-- UTC), and the job runs at both
SELECT array_agg(n ORDER BY n) AS hourly_runs_autumn FROM (
    WITH RECURSIVE r (n) AS (
        SELECT reporting.cron_next('0 * * * *', 'Europe/Berlin', '2025-10-25 21:30+00')
        UNION ALL
        SELECT reporting.cron_next('0 * * * *', 'Europe/Berlin', n) FROM r WHERE n < '2025-10-26 03:00+00')
    SELECT n FROM r) x;
-- so does a job every 20 minutes, inside the repeated hour
SELECT array_agg(n ORDER BY n) AS every_20_minutes_autumn FROM (
    WITH RECURSIVE r (n) AS (
        SELECT reporting.cron_next('*/20 * * * *', 'Europe/Berlin', '2025-10-25 23:50+00')
        UNION ALL
        SELECT reporting.cron_next('*/20 * * * *', 'Europe/Berlin', n) FROM r WHERE n < '2025-10-26 01:30+00')
    SELECT n FROM r) x;
-- before 2000 (timestamps below zero): the next minute, not one off
SELECT reporting.cron_next('* * * * *', 'UTC', '1999-12-31 23:58:30+00') AS before_2000,
       reporting.cron_next('0 0 * * *', 'UTC', '1970-01-01 00:00:00+00') AS epoch_midnight,
       reporting.cron_next('15 10 * * *', 'UTC', '1969-07-20 10:14:59+00') AS in_1969;
-- the session's time zone is the default
SET timezone = 'Asia/Kolkata';
SELECT reporting.cron_next('0 6 * * *', NULL, '2025-06-10 00:00+00') AS kolkata_6am;
SET timezone = 'UTC';
SELECT pg_temp.try($$SELECT reporting.cron_next('0 0 31 2 *', 'UTC', now())$$) AS never,
       reporting.cron_next('0 0 31 2 *', 'UTC', now()) IS NULL AS is_null;
SELECT pg_temp.try($$SELECT reporting.cron_next('61 * * * *')$$);
SELECT pg_temp.try($$SELECT reporting.cron_next('* * * * *', 'Nowhere/Special')$$);
RESET timezone;
