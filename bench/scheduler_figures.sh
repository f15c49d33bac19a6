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

	# idle: nothing due for minutes (the example's reports are due every 5
	# minutes and daily); the scheduler of this database and the launcher
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
