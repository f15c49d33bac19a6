-- Incremental reports in a zone whose UTC offset changes: on the night the
-- clocks go back a local hour stands for two instants, on the night they go
-- forward for none.  Every bucket touched is recomputed whole, for local
-- (timestamp, date) and instant (timestamptz) bucket columns alike.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
CREATE TABLE dst_f (id serial PRIMARY KEY, ts timestamptz NOT NULL, v int NOT NULL DEFAULT 1);
-- every 20 minutes around both changes of 2026 in Europe/Berlin
INSERT INTO dst_f (ts)
SELECT g FROM generate_series(timestamptz '2026-03-28 00:00+00', '2026-03-30 00:00+00', interval '20 minutes') g
UNION ALL
SELECT g FROM generate_series(timestamptz '2026-10-24 00:00+00', '2026-10-26 00:00+00', interval '20 minutes') g;

-- hourly buckets as local timestamps
SELECT reporting.create_incremental('dst_local_hour', $q$
    SELECT date_trunc('hour', f.ts AT TIME ZONE 'Europe/Berlin') AS h, count(*) AS n, sum(v) AS v
      FROM public.dst_f f WHERE f.ts >= $1 AND f.ts < $2 GROUP BY 1 $q$,
    'dst_f.ts', 'h', bucket_width => '1 hour', time_zone => 'Europe/Berlin')::text AS created;
-- hourly buckets as instants: the repeated hour is two buckets
SELECT reporting.create_incremental('dst_instant_hour', $q$
    SELECT date_trunc('hour', f.ts, 'Europe/Berlin') AS h, count(*) AS n, sum(v) AS v
      FROM public.dst_f f WHERE f.ts >= $1 AND f.ts < $2 GROUP BY 1 $q$,
    'dst_f.ts', 'h', bucket_width => '1 hour', time_zone => 'Europe/Berlin')::text AS created;
-- daily buckets as instants (local midnights)
SELECT reporting.create_incremental('dst_instant_day', $q$
    SELECT date_trunc('day', f.ts, 'Europe/Berlin') AS d, count(*) AS n, sum(v) AS v
      FROM public.dst_f f WHERE f.ts >= $1 AND f.ts < $2 GROUP BY 1 $q$,
    'dst_f.ts', 'd', bucket_width => '1 day', time_zone => 'Europe/Berlin')::text AS created;
SELECT count(*) AS instant_buckets_of_the_repeated_hour FROM dst_instant_hour
 WHERE (h AT TIME ZONE 'Europe/Berlin') = '2026-10-25 02:00';

CREATE FUNCTION dst_check() RETURNS TABLE (report text, mode text, differences bigint)
LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['dst_local_hour', 'dst_instant_hour', 'dst_instant_day'] LOOP
        report := r;
        mode := (SELECT x.mode FROM reporting.refresh(r::regclass) x);
        differences := (SELECT count(*) FROM reporting.verify(r::regclass));
        RETURN NEXT;
    END LOOP;
END $$;

-- creating a report on the same fact table recomputes none of the others
SELECT * FROM dst_check();
-- the first 02:30 of the night the clocks go back (CEST), then the second (CET)
INSERT INTO dst_f (ts, v) VALUES ('2026-10-25 00:30+00', 100);
SELECT * FROM dst_check();
INSERT INTO dst_f (ts, v) VALUES ('2026-10-25 01:30+00', 1000);
SELECT * FROM dst_check();
-- both at once, and a change of one row from the first to the second
UPDATE dst_f SET v = v + 1 WHERE ts IN ('2026-10-25 00:40+00', '2026-10-25 01:40+00');
UPDATE dst_f SET ts = ts + interval '1 hour' WHERE ts = '2026-10-25 00:20+00';
SELECT * FROM dst_check();
-- local midnight on both sides of the change, and the hour that does not
-- exist in spring (02:00 to 03:00 on 29 March)
INSERT INTO dst_f (ts, v) VALUES ('2026-10-24 22:10+00', 5), ('2026-10-25 23:10+00', 6),
                                 ('2026-03-29 00:59+00', 7), ('2026-03-29 01:00+00', 8);
SELECT * FROM dst_check();
DELETE FROM dst_f WHERE ts >= '2026-10-24 21:00+00' AND ts < '2026-10-25 03:00+00';
SELECT * FROM dst_check();

DROP TABLE dst_local_hour, dst_instant_hour, dst_instant_day;
DROP FUNCTION dst_check();
DROP TABLE dst_f;
