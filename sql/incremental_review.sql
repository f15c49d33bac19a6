-- Incremental reports: faults a review found, one case each.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
CREATE TABLE rv_f (id serial PRIMARY KEY, ts timestamptz NOT NULL, k int NOT NULL DEFAULT 0);
INSERT INTO rv_f (ts, k) SELECT timestamptz '2026-01-01 00:00+00' + i * interval '5 hours', i % 2
  FROM generate_series(1, 200) i;

-- the rows a refresh reports are the report's rows after it
SELECT reporting.create_incremental('rv_rows', $q$
    SELECT (ts AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM public.rv_f
     WHERE ts >= $1 AND ts < $2 GROUP BY 1 $q$, 'rv_f.ts', 'day', time_zone => 'UTC')::text AS created;
SELECT rows = (SELECT count(*) FROM rv_rows) AS first_rows_right FROM reporting.runs
 WHERE view = 'rv_rows'::regclass ORDER BY id DESC LIMIT 1;
INSERT INTO rv_f (ts) VALUES ('2026-06-01 10:00+00');
SELECT mode, rows AS refreshed_rows FROM reporting.refresh('rv_rows') \gset
SELECT :'mode' AS mode, :refreshed_rows = count(*) AS rows_right FROM rv_rows;
SELECT rows = (SELECT count(*) FROM rv_rows) AS status_rows_right FROM reporting.status
 WHERE view = 'rv_rows'::regclass;
-- a refresh rolled back to a savepoint recomputed nothing: what it claimed
-- is recomputed by the next one
INSERT INTO rv_f (ts) VALUES ('2026-06-02 10:00+00');
BEGIN;
SAVEPOINT before_refresh;
SELECT mode FROM reporting.refresh('rv_rows');
ROLLBACK TO SAVEPOINT before_refresh;
COMMIT;
SELECT mode FROM reporting.refresh('rv_rows');
SELECT last_buckets FROM reporting.incrementals WHERE report = 'rv_rows'::regclass;
SELECT count(*) AS differences FROM reporting.verify('rv_rows');
-- and in a block that catches the error after the refresh
INSERT INTO rv_f (ts) VALUES ('2026-06-03 10:00+00');
DO $$
BEGIN
    PERFORM reporting.refresh('rv_rows');
    RAISE EXCEPTION 'after the refresh';
EXCEPTION WHEN raise_exception THEN
    NULL;
END $$;
SELECT mode FROM reporting.refresh('rv_rows');
SELECT last_buckets FROM reporting.incrementals WHERE report = 'rv_rows'::regclass;
SELECT count(*) AS differences FROM reporting.verify('rv_rows');
-- a refresh mode of materialized views does not apply
SELECT reporting.refresh('rv_rows', mode => 'concurrently');
SELECT reporting.refresh('rv_rows', mode => 'plain');
SELECT reporting.unregister('rv_rows');
DROP TABLE rv_rows;

-- registered again with sources => naming the fact table only: what its
-- query reads stays among its sources, and a change of a dimension is seen
CREATE TABLE rv_dim (k int PRIMARY KEY, label text NOT NULL);
INSERT INTO rv_dim VALUES (0, 'even'), (1, 'odd');
SELECT reporting.create_incremental('rv_labels', $q$
    SELECT (f.ts AT TIME ZONE 'UTC')::date AS day, d.label, count(*) AS n
      FROM public.rv_f f JOIN public.rv_dim d ON d.k = f.k
     WHERE f.ts >= $1 AND f.ts < $2 GROUP BY 1, 2 $q$,
    'rv_f.ts', 'day', time_zone => 'UTC', unique_key => '{day,label}')::text AS created;
SELECT reporting.register('rv_labels', every => '1 hour', sources => ARRAY['rv_f'::regclass]);
SELECT array_to_string(sources, ', ') AS sources FROM reporting.registrations WHERE view = 'rv_labels'::regclass;
UPDATE rv_dim SET label = 'impair' WHERE k = 1;
SELECT mode FROM reporting.refresh('rv_labels');
SELECT count(*) AS differences FROM reporting.verify('rv_labels');
SELECT reporting.unregister('rv_labels');
DROP TABLE rv_labels;

-- a query whose rows depend on the clock, a volatile function or a
-- function that may read other tables is refused, and nothing is left
SELECT reporting.create_incremental('rv_clock', $q$
    SELECT (ts AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM public.rv_f
     WHERE ts >= $1 AND ts < $2 AND ts <= now() GROUP BY 1 $q$, 'rv_f.ts', 'day', time_zone => 'UTC');
SELECT reporting.create_incremental('rv_clock', $q$
    SELECT (ts AT TIME ZONE 'UTC')::date AS day, count(*) FILTER (WHERE random() < 0.5) AS n FROM public.rv_f
     WHERE ts >= $1 AND ts < $2 GROUP BY 1 $q$, 'rv_f.ts', 'day', time_zone => 'UTC');
SELECT reporting.create_incremental('rv_clock', $q$
    SELECT (ts AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM public.rv_f
     WHERE ts >= $1 AND ts < $2 AND ts <= 'now' GROUP BY 1 $q$, 'rv_f.ts', 'day', time_zone => 'UTC');
SELECT reporting.create_incremental('rv_clock', $q$
    SELECT (ts AT TIME ZONE 'UTC')::date AS day, count(*) FILTER (WHERE ts::date < 'Today'::date) AS n
      FROM public.rv_f WHERE ts >= $1 AND ts < $2 GROUP BY 1 $q$, 'rv_f.ts', 'day', time_zone => 'UTC');
CREATE FUNCTION rv_label(k int) RETURNS text LANGUAGE sql STABLE AS $$ SELECT label FROM public.rv_dim WHERE rv_dim.k = $1 $$;
SELECT reporting.create_incremental('rv_clock', $q$
    SELECT (ts AT TIME ZONE 'UTC')::date AS day, public.rv_label(k) AS label, count(*) AS n FROM public.rv_f
     WHERE ts >= $1 AND ts < $2 GROUP BY 1, 2 $q$, 'rv_f.ts', 'day', time_zone => 'UTC', unique_key => '{day,label}');
-- a generated time column: the capture would see it before it is computed
CREATE TABLE rv_gen (id serial, ts timestamptz NOT NULL,
                     day date GENERATED ALWAYS AS ((ts AT TIME ZONE 'UTC')::date) STORED);
SELECT reporting.create_incremental('rv_clock', $q$
    SELECT g.day, count(*) AS n FROM public.rv_gen g WHERE g.day >= $1 AND g.day < $2 GROUP BY 1 $q$,
    'rv_gen.day', 'day', time_zone => 'UTC');
DROP TABLE rv_gen;
SELECT count(*) AS leftovers FROM pg_class WHERE relname = 'rv_clock';
DROP FUNCTION rv_label(int);

-- a role records an incremental report only over tables it may read
CREATE ROLE rv_mallory;
GRANT CREATE ON SCHEMA public TO rv_mallory;
CREATE TABLE rv_secret (ts timestamptz, amount int);
GRANT SELECT ON rv_f TO rv_mallory;
GRANT EXECUTE ON FUNCTION
    reporting.create_incremental(text, text, text, name, interval, text, int4, name[], interval, text, float8)
  TO rv_mallory;
SELECT reporting.create_incremental('rv_theirs', $q$
    SELECT (ts AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM public.rv_f
     WHERE ts >= $1 AND ts < $2 GROUP BY 1 $q$, 'rv_f.ts', 'day', time_zone => 'UTC')::text AS created;
SET ROLE rv_mallory;
CREATE TABLE rv_fake (day date UNIQUE, n bigint);
CREATE TRIGGER reporting_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON rv_fake
    FOR EACH STATEMENT EXECUTE FUNCTION reporting._guard();
-- another role's report: verify() says whose it is
SELECT * FROM reporting.verify('rv_theirs');
SELECT reporting._record_incremental('rv_fake', 'SELECT $1::date AS day, 1::bigint AS n WHERE $2 IS NOT NULL',
    'rv_secret'::regclass, 'ts', 'timestamptz', 'day', 'date', '1 day', 'UTC', 0, 0.5, '{}', 'public');
SELECT reporting._record_incremental('rv_fake', 'SELECT $1::date AS day, 1::bigint AS n WHERE $2 IS NOT NULL',
    'rv_f'::regclass, 'ts', 'timestamptz', 'day', 'date', '1 day', 'UTC', 0, 0.5, '{rv_secret}', 'public');
DROP TABLE rv_fake;
-- a role that may read the fact table but not put triggers on it is told
-- so before the report is filled
SELECT reporting.create_incremental('rv_not_mine', $q$
    SELECT (ts AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM public.rv_f
     WHERE ts >= $1 AND ts < $2 GROUP BY 1 $q$, 'rv_f.ts', 'day', time_zone => 'UTC');
RESET ROLE;
DROP TABLE rv_theirs;

-- the default zone and the names of the query are those its refreshes
-- run with (the owner's login defaults), not this session's
CREATE ROLE rv_owner;
ALTER ROLE rv_owner SET TimeZone = 'Asia/Tokyo';
GRANT EXECUTE ON FUNCTION
    reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text),
    reporting.unregister(regclass), reporting.refresh(regclass, text),
    reporting.create_incremental(text, text, text, name, interval, text, int4, name[], interval, text, float8)
  TO rv_owner;
GRANT CREATE ON SCHEMA public TO rv_owner;
CREATE SCHEMA rv_tenant AUTHORIZATION rv_owner;
ALTER TABLE rv_f OWNER TO rv_owner;
SET ROLE rv_owner;
CREATE TABLE rv_tenant.rv_f (LIKE public.rv_f INCLUDING ALL);
SET TimeZone = 'America/New_York';
SET search_path = rv_tenant, public;
SELECT reporting.create_incremental('public.rv_local', $q$
    SELECT ts::date AS day, count(*) AS n FROM rv_f WHERE ts >= $1 AND ts < $2 GROUP BY 1 $q$,
    'rv_f.ts', 'day')::text AS created;
SELECT fact::text, time_zone FROM reporting.incrementals WHERE report = 'public.rv_local'::regclass;
RESET search_path;
INSERT INTO public.rv_f (ts) VALUES ('2026-01-10 16:00+00');
SELECT mode FROM reporting.refresh('rv_local');
SELECT count(*) AS differences FROM reporting.verify('rv_local');
-- the owner's login defaults change afterwards: the report's query still
-- runs in its time_zone and with the search_path it was created with
RESET ROLE;
ALTER ROLE rv_owner SET TimeZone = 'America/Los_Angeles';
ALTER ROLE rv_owner SET search_path = rv_tenant, public;
SET ROLE rv_owner;
INSERT INTO public.rv_f (ts) VALUES ('2026-01-11 16:00+00');
SELECT mode FROM reporting.refresh('public.rv_local');
SELECT count(*) AS differences FROM reporting.verify('public.rv_local');
SELECT search_path FROM reporting.incrementals WHERE report = 'public.rv_local'::regclass;
SELECT reporting.unregister('public.rv_local');
DROP TABLE public.rv_local;
DROP TABLE rv_tenant.rv_f;
DROP SCHEMA rv_tenant;
RESET ROLE;
RESET TimeZone;

ALTER TABLE rv_f OWNER TO CURRENT_USER;
DROP TABLE rv_f, rv_dim, rv_secret;
REVOKE CREATE ON SCHEMA public FROM rv_mallory, rv_owner;
REVOKE EXECUTE ON FUNCTION
    reporting.create_incremental(text, text, text, name, interval, text, int4, name[], interval, text, float8)
  FROM rv_mallory;
REVOKE EXECUTE ON FUNCTION
    reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text),
    reporting.unregister(regclass), reporting.refresh(regclass, text),
    reporting.create_incremental(text, text, text, name, interval, text, int4, name[], interval, text, float8)
  FROM rv_owner;
DROP ROLE rv_mallory;
DROP ROLE rv_owner;
