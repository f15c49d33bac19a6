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
