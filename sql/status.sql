-- reporting.status, reporting.sources and reporting.source_health: what a
-- product manager reads ("refreshed every 5 minutes; last refreshed 2
-- minutes ago") and what a DBA reads when a report gets slow.

-- Plain-language pieces, from fixed inputs
SELECT every, reporting._describe_every(every)
  FROM (VALUES (interval '1 second'), ('30 seconds'), ('90 seconds'), ('1 minute'), ('5 minutes'),
               ('1 hour'), ('6 hours'), ('1 day'), ('2 days'), ('1 day 1 hour')) AS t (every);
SELECT age, reporting._describe_age(age)
  FROM (VALUES (interval '0'), ('0.5 seconds'), ('1 second'), ('45 seconds'), ('1 minute'),
               ('2 minutes 59 seconds'), ('1 hour'), ('47 hours'), ('48 hours'), ('10 days')) AS t (age);
SELECT every, cron, timezone, reporting._describe_schedule(every, cron, timezone)
  FROM (VALUES (interval '5 minutes', NULL, NULL), (NULL, NULL, NULL),
               (NULL, '5 0 * * *', 'Europe/Berlin'), (NULL, '0 6 * * 1', 'UTC'),
               (NULL, '30 2 15 * *', 'America/New_York'), (NULL, '15 * * * *', 'UTC'),
               (NULL, '*/10 * * * *', 'UTC'), (NULL, '@daily', 'Asia/Tokyo'),
               (NULL, '0 9-17 * * 1-5', 'UTC')) AS t (every, cron, timezone);

-- The freshness sentence, at a fixed "now"
SELECT reporting._describe_freshness(true, '5 minutes', NULL, NULL,
    '2025-03-10 11:58:00+00', 'refreshed', '2025-03-10 11:58:00+00', '2025-03-10 12:00:00+00');
SELECT reporting._describe_freshness(true, NULL, NULL, NULL, NULL, NULL, NULL, '2025-03-10 12:00:00+00');
SELECT reporting._describe_freshness(true, NULL, '5 0 * * *', 'Europe/Berlin',
    '2025-03-09 23:05:00+00', 'refreshed', '2025-03-09 23:05:00+00', '2025-03-10 12:00:00+00');
SELECT reporting._describe_freshness(true, NULL, '5 0 * * *', 'Europe/Berlin',
    '2025-03-08 23:05:00+00', 'refreshed', '2025-03-08 23:05:00+00', '2025-03-10 12:00:00+00');
SELECT reporting._describe_freshness(true, NULL, '5 0 * * *', 'Europe/Berlin',
    '2025-03-10 10:00:00+00', 'refreshed', '2025-03-10 10:00:00+00', '2025-03-10 12:00:00+00');
SELECT reporting._describe_freshness(true, '1 hour', NULL, NULL,
    '2025-03-10 09:00:00+00', 'failed', '2025-03-10 11:00:00+00', '2025-03-10 12:00:00+00');
SELECT reporting._describe_freshness(true, '1 hour', NULL, NULL,
    NULL, 'failed', '2025-03-10 11:59:30+00', '2025-03-10 12:00:00+00');
SELECT reporting._describe_freshness(false, '1 hour', NULL, NULL, NULL, NULL, NULL, now());

-- The status of real registrations
CREATE TABLE orders (id int PRIMARY KEY, day date NOT NULL, total_cents bigint NOT NULL, status text NOT NULL)
  WITH (autovacuum_enabled = false);
INSERT INTO orders SELECT g, date '2025-01-01' + g % 10, g * 100, 'paid' FROM generate_series(1, 5000) g;
CREATE TABLE switch (on_ boolean);
INSERT INTO switch VALUES (true);
CREATE MATERIALIZED VIEW daily AS
  SELECT day, count(*) AS order_count, sum(total_cents) AS revenue_cents FROM orders GROUP BY day WITH NO DATA;
CREATE UNIQUE INDEX ON daily (day);
-- fails with division by zero while switch is empty
CREATE MATERIALIZED VIEW nightly AS
  SELECT count(*) / (SELECT count(*) FROM switch) AS n FROM orders WITH NO DATA;
SELECT reporting.register('daily', every => '5 minutes');
SELECT reporting.register('nightly', cron => '5 0 * * *', timezone => 'Europe/Berlin', mode => 'plain');

SELECT view, owner, schedule, mode, refresh_when, last_status, last_refreshed_at IS NULL AS never,
       rows, age IS NULL AS no_age, freshness, view_exists, populated
  FROM reporting.status ORDER BY view::text COLLATE "C";

SELECT mode FROM reporting.refresh('daily');
SELECT view, last_status, last_mode, rows, age >= interval '0' AS has_age, last_duration IS NOT NULL AS timed,
       freshness LIKE 'refreshed every 5 minutes; last refreshed %' AS says_when, populated
  FROM reporting.status WHERE view = 'daily'::regclass;

-- a failed attempt shows in the status, with its error, after the last success
SELECT view, status, error FROM reporting.refresh_all();
DELETE FROM switch;
SELECT view, status, error FROM reporting.refresh_all();
SELECT view, last_status, last_error, last_sqlstate, rows, last_refreshed_at < last_started_at AS older_success,
       freshness LIKE 'refreshed daily at 00:05 Europe/Berlin%; the last attempt failed %' AS says_failed
  FROM reporting.status ORDER BY view::text COLLATE "C";

-- sources and health figures
SELECT view, source, source_kind, via FROM reporting.sources ORDER BY view::text COLLATE "C", source::text COLLATE "C";
SELECT pg_stat_force_next_flush();
ANALYZE orders;
DELETE FROM orders WHERE id % 3 <> 0;
SELECT pg_stat_force_next_flush();
SELECT view, source, source_kind, dead_tuples > 1000 AS many_dead, dead_ratio > 0.2 AS high_ratio,
       stale_statistics, high_bloat, needs_attention,
       hint LIKE 'Planner statistics are stale: % rows changed since the last analyze; run ANALYZE orders, %' AS hint_analyze,
       hint LIKE '% of its rows are dead: run VACUUM orders, %' AS hint_vacuum
  FROM reporting.source_health WHERE view = 'daily'::regclass;
ANALYZE orders;
VACUUM orders;
SELECT pg_stat_force_next_flush();
SELECT view, dead_tuples, stale_statistics, high_bloat, needs_attention, hint,
       last_vacuum IS NOT NULL AS vacuumed, last_analyze IS NOT NULL AS analyzed
  FROM reporting.source_health WHERE view = 'daily'::regclass;

-- why the scheduler schedules nothing here now, in status
SELECT DISTINCT scheduling_paused FROM reporting.status;
SELECT reporting.pause_scheduling('10 minutes');
SELECT DISTINCT scheduling_paused LIKE 'scheduling is paused until % (reporting.pause_scheduling())' AS says_paused
  FROM reporting.status;
SELECT reporting.pause_scheduling('0');
SELECT DISTINCT scheduling_paused FROM reporting.status;
SELECT DISTINCT schedule_problem FROM reporting.status;

SET client_min_messages = warning;
DROP TABLE orders, switch CASCADE;
SELECT count(*) AS registrations FROM reporting.registrations;
