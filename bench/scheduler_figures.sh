# Figures 5 (scheduler latency and idle CPU) and 6 (parallel refresh_all),
# sourced by bench/run once the heavy report exists.  Each sets shell
# variables that bench/run puts in its table and JSON.

# --- 6. refresh_all in parallel versus one refresh after another -----------
# Two independent copies of the heavy report, owned by a role of their own
# so that refresh_all() (which refreshes what its caller may manage) sees
# exactly these two.  Both sides use the same mode (auto: concurrently).
figure_parallel_refresh_all() {
	say "6. two independent heavy reports: refresh_all() (parallel workers) versus one refresh after the other ($REFRESH_RUNS runs each)"
	run_psql -q <<SQL >/dev/null
CREATE ROLE bench_reports NOLOGIN;
GRANT SELECT ON orders, customers TO bench_reports;
GRANT CREATE ON SCHEMA public TO bench_reports;
GRANT EXECUTE ON FUNCTION reporting.register, reporting.unregister, reporting.refresh, reporting.refresh_all TO bench_reports;
SET ROLE bench_reports;
SELECT format('CREATE MATERIALIZED VIEW bench_heavy_%s AS %s', x, pg_get_viewdef('$HEAVY'::regclass))
  FROM (VALUES ('a'), ('b')) v (x) \gexec
CREATE UNIQUE INDEX ON bench_heavy_a (region, day);
CREATE UNIQUE INDEX ON bench_heavy_b (region, day);
SELECT reporting.register('bench_heavy_a', refresh_when => 'always', lock_timeout => '10 minutes');
SELECT reporting.register('bench_heavy_b', refresh_when => 'always', lock_timeout => '10 minutes');
SQL
	local parallel_runs="" sequential_runs=""
	for _ in $(seq 1 "$REFRESH_RUNS"); do
		parallel_runs="$parallel_runs $(run_psql -At <<'SQL'
SET ROLE bench_reports;
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FILTER (WHERE status <> 'refreshed') AS not_refreshed FROM reporting.refresh_all() \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000);
SQL
)"
		sequential_runs="$sequential_runs $(run_psql -At <<'SQL'
SET ROLE bench_reports;
SELECT clock_timestamp() AS t0 \gset
SELECT reporting.refresh('bench_heavy_a') \gset
SELECT reporting.refresh('bench_heavy_b') \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000);
SQL
)"
	done
	parallel_ms=$(echo "$parallel_runs" | median)
	sequential_ms=$(echo "$sequential_runs" | median)
	parallel_modes=$(run_psql -At -c "SELECT string_agg(DISTINCT mode, ',') FROM reporting.runs
	                                   WHERE origin = 'refresh_all' AND view::text LIKE 'bench_heavy_%'")
	echo "refresh_all: $parallel_ms ms (runs:$parallel_runs); one after the other: $sequential_ms ms (runs:$sequential_runs); mode: $parallel_modes"
	run_psql -q -c "SELECT reporting.unregister('bench_heavy_a'), reporting.unregister('bench_heavy_b')" \
		-c 'DROP MATERIALIZED VIEW bench_heavy_a, bench_heavy_b' >/dev/null
}

# CPU seconds (user + system) a process has used so far
cpu_seconds() {
	awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

# --- 5. the scheduler: due-to-start latency, idle CPU ----------------------
figure_scheduler() {
	local tick_seconds=20 idle_seconds=30
	if [ -n "${REPORTING_BENCH_SHORT:-}" ]; then tick_seconds=5; idle_seconds=5; fi
	say "5. the scheduler: due-to-start latency of a view due every second (${tick_seconds}s), then CPU while idle (${idle_seconds}s)"
	unschedule_other_reports
	run_psql -q -c 'ALTER SYSTEM SET reporting.enabled = on' -c 'SELECT pg_reload_conf()' >/dev/null
	run_psql -q -c 'CREATE MATERIALIZED VIEW bench_tick AS SELECT 1 AS k, clock_timestamp() AS at' \
		-c 'CREATE UNIQUE INDEX ON bench_tick (k)' \
		-c "SELECT reporting.register('bench_tick', every => '1 second', refresh_when => 'always')" >/dev/null
	sleep "$tick_seconds"
	# every run of a view due every second: how late after its due time it
	# started (read before unregistering, which deletes its history)
	run_psql -At -c "SELECT round(extract(epoch FROM started_at - (lag(started_at) OVER (ORDER BY started_at) + interval '1 second')) * 1000, 1)
	                   FROM reporting.runs WHERE origin = 'schedule' AND view::text = 'bench_tick'" |
		grep -v '^$' >"$OUT/scheduler_latency.ms" || true
	run_psql -q -c "SELECT reporting.unregister('bench_tick')" -c 'DROP MATERIALIZED VIEW bench_tick' >/dev/null
	latency_median=$(median <"$OUT/scheduler_latency.ms")
	latency_max=$(sort -g "$OUT/scheduler_latency.ms" | tail -1)
	latency_runs=$(wc -l <"$OUT/scheduler_latency.ms")
	echo "due-to-start latency: median $latency_median ms, max $latency_max ms ($latency_runs scheduled refreshes)"

	# idle: nothing is scheduled; the scheduler of this database and the launcher
	local scheduler launcher s0 l0
	scheduler=$(run_psql -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'reporting scheduler' AND datname = current_database()")
	launcher=$(run_psql -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'reporting launcher'")
	s0=$(cpu_seconds "$scheduler"); l0=$(cpu_seconds "$launcher")
	sleep "$idle_seconds"
	idle_scheduler_ms_per_min=$(awk -v a="$s0" -v b="$(cpu_seconds "$scheduler")" -v t="$idle_seconds" 'BEGIN {printf "%.1f", (b - a) * 1000 * 60 / t}')
	idle_launcher_ms_per_min=$(awk -v a="$l0" -v b="$(cpu_seconds "$launcher")" -v t="$idle_seconds" 'BEGIN {printf "%.1f", (b - a) * 1000 * 60 / t}')
	echo "idle CPU: scheduler $idle_scheduler_ms_per_min ms per minute, launcher $idle_launcher_ms_per_min ms per minute (clock tick $((1000 / $(getconf CLK_TCK))) ms)"
	run_psql -q -c 'ALTER SYSTEM SET reporting.enabled = off' -c 'SELECT pg_reload_conf()' >/dev/null
}

# The worked example's reports and the heavy one are registered with
# schedules; figures 4 and 5 turn scheduling on, so those become manual-only
# (their history is kept) and cannot refresh in the middle of a figure.
unschedule_other_reports() {
	run_psql -q -c "SELECT reporting.register(view) FROM reporting.registrations
	                 WHERE every IS NOT NULL OR cron IS NOT NULL" >/dev/null
}

# --- 4. skipped work: refresh when changed versus a fixed interval ---------
# Two identical copies of the daily revenue report.  One is scheduled every
# 5 s with refresh_when => 'changed'; the other is refreshed CONCURRENTLY
# every 5 s regardless, by a loop (what a cron job or pg_cron entry does).
# New orders arrive only during the first third of the window.  Measured:
# total refresh time each spent, and the longest a committed order stayed
# invisible in each (from its commit to the end of the first refresh that
# started after it).
figure_skipped_work() {
	local window=60 interval=5
	if [ -n "${REPORTING_BENCH_SHORT:-}" ]; then window=15; fi
	say "4. skipped work over ${window}s, orders arriving in the first third: refresh_when => 'changed' every ${interval}s versus REFRESH CONCURRENTLY every ${interval}s regardless"
	unschedule_other_reports
	run_psql -q <<SQL >/dev/null
SELECT format('CREATE MATERIALIZED VIEW %s AS %s', v, pg_get_viewdef('reporting_daily_revenue'::regclass))
  FROM (VALUES ('bench_changed'), ('bench_fixed')) x (v) \gexec
CREATE UNIQUE INDEX ON bench_changed (day);
CREATE UNIQUE INDEX ON bench_fixed (day);
CREATE TABLE bench_changes (at timestamptz NOT NULL);
CREATE TABLE bench_fixed_runs (started_at timestamptz NOT NULL, finished_at timestamptz NOT NULL);
SELECT reporting.register('bench_changed', every => '${interval} seconds');
SQL
	run_psql -q -c 'ALTER SYSTEM SET reporting.enabled = on' -c 'SELECT pg_reload_conf()' >/dev/null
	local start end
	start=$(run_psql -At -c 'SELECT clock_timestamp()')
	end=$(date -d "+${window} seconds" +%s)
	# the cron job
	(
		while [ "$(date +%s)" -lt "$end" ]; do
			run_psql -q <<'SQL' >/dev/null
SELECT clock_timestamp() AS t0 \gset
REFRESH MATERIALIZED VIEW CONCURRENTLY bench_fixed;
INSERT INTO bench_fixed_runs VALUES (:'t0', clock_timestamp());
SQL
			sleep "$interval"
		done
	) &
	local fixed_loop=$!
	# the writers: an order every half second during the first third
	local writes_until=$(($(date +%s) + window / 3))
	while [ "$(date +%s)" -lt "$writes_until" ]; do
		run_psql -q <<'SQL' >/dev/null
BEGIN;
INSERT INTO orders (id, customer_id, created_at, total_cents, status)
SELECT max(id) + 1, 1, now(), 4200, 'paid' FROM orders;
INSERT INTO bench_changes VALUES (clock_timestamp());
COMMIT;
SQL
		sleep 0.5
	done
	wait "$fixed_loop"
	run_psql -q -c 'ALTER SYSTEM SET reporting.enabled = off' -c 'SELECT pg_reload_conf()' >/dev/null
	# give a refresh dispatched just before the pause time to finish
	sleep 1
	read -r changed_s changed_runs changed_skips changed_lag fixed_s fixed_runs fixed_lag < <(run_psql -At -F ' ' <<SQL
WITH sched AS (
    SELECT started_at, finished_at, status FROM reporting.runs
     WHERE view = 'bench_changed'::regclass AND origin = 'schedule' AND started_at >= '$start'
), lag_changed AS (
    SELECT max((SELECT min(s.finished_at) FROM sched s WHERE s.status = 'refreshed' AND s.started_at > c.at) - c.at) AS l
      FROM bench_changes c
), lag_fixed AS (
    SELECT max((SELECT min(f.finished_at) FROM bench_fixed_runs f WHERE f.started_at > c.at) - c.at) AS l
      FROM bench_changes c
)
SELECT round(extract(epoch FROM coalesce(sum(finished_at - started_at) FILTER (WHERE status = 'refreshed'), '0')), 2),
       count(*) FILTER (WHERE status = 'refreshed'),
       count(*) FILTER (WHERE status = 'skipped'),
       round(extract(epoch FROM (SELECT l FROM lag_changed)), 2),
       (SELECT round(extract(epoch FROM sum(finished_at - started_at)), 2) FROM bench_fixed_runs),
       (SELECT count(*) FROM bench_fixed_runs),
       round(extract(epoch FROM (SELECT l FROM lag_fixed)), 2)
  FROM sched
SQL
)
	echo "refresh_when => 'changed': $changed_runs refreshes, $changed_skips skips, ${changed_s}s refreshing; longest invisible: ${changed_lag}s"
	echo "fixed interval:            $fixed_runs refreshes, ${fixed_s}s refreshing; longest invisible: ${fixed_lag}s"
	run_psql -q -c "SELECT reporting.unregister('bench_changed')" \
		-c 'DROP MATERIALIZED VIEW bench_changed, bench_fixed' -c 'DROP TABLE bench_changes, bench_fixed_runs' >/dev/null
}
