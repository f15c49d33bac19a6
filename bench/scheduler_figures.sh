# shellcheck shell=bash disable=SC2034  # the figures' variables are read by bench/run
# The figures that need the scheduler and its workers: 4 (skipped work), 5
# (scheduler latency and idle CPU) and 6 (parallel refresh_all), sourced by
# bench/run once the heavy report exists.  Each sets shell variables that
# bench/run puts in its table and JSON.  Scheduling (reporting.enabled) is
# off during the other figures; 4 and 5 turn it on for their own window.

# --- 6. refresh_all in parallel versus one refresh after another -----------
# Two independent copies of the heavy report, owned by a role of their own
# so that refresh_all() (which refreshes what its caller may manage) sees
# exactly these two.  Both are registered refresh_when => 'always' (else
# refresh_all would skip an unchanged one) and without a schedule (scheduling
# is off during this figure anyway).  Both sides use the same mode (auto:
# concurrently); they alternate, REFRESH_RUNS times each, and the medians
# are compared.  Each refresh_all call also records how much its two
# refreshes overlapped (100% of the shorter one = fully side by side) and
# how long after the call the first refresh worker had locked its view.
figure_parallel_refresh_all() {
	max_workers=$(run_psql -At -c 'SHOW reporting.max_workers')
	say "6. two independent heavy reports: refresh_all() (parallel workers, reporting.max_workers = $max_workers) versus one refresh after the other ($REFRESH_RUNS runs each)"
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
	local parallel_runs="" sequential_runs="" overlaps="" starts="" ms overlap start not_refreshed
	parallel_not_refreshed=0
	for _ in $(seq 1 "$REFRESH_RUNS"); do
		read -r ms overlap start not_refreshed < <(run_psql -At -F ' ' <<'SQL'
SET ROLE bench_reports;
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FILTER (WHERE status <> 'refreshed') AS not_refreshed FROM reporting.refresh_all() \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000),
       coalesce(round(100 * extract(epoch FROM greatest(interval '0', min(finished_at) - max(started_at)))
                          / nullif(extract(epoch FROM min(finished_at - started_at)), 0))::text, '-'),
       coalesce(round(extract(epoch FROM min(started_at) - :'t0') * 1000)::text, '-'),
       :not_refreshed
  FROM reporting.runs
 WHERE origin = 'refresh_all' AND started_at >= :'t0' AND view::text LIKE 'bench_heavy_%';
SQL
)
		parallel_runs="$parallel_runs $ms"; overlaps="$overlaps $overlap"; starts="$starts $start"
		parallel_not_refreshed=$((parallel_not_refreshed + not_refreshed))
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
	parallel_overlap_pct=$(echo "$overlaps" | tr -d '-' | median)
	worker_start_ms=$(echo "$starts" | tr -d '-' | median)
	parallel_modes=$(run_psql -At -c "SELECT string_agg(DISTINCT mode, ',') FROM reporting.runs
	                                   WHERE origin = 'refresh_all' AND view::text LIKE 'bench_heavy_%'")
	echo "refresh_all: $parallel_ms ms (runs:$parallel_runs); one after the other: $sequential_ms ms (runs:$sequential_runs); mode: $parallel_modes"
	echo "refresh_all: overlap of its two refreshes, % of the shorter:$overlaps; the first locked its view after (ms):$starts"
	[ "$parallel_not_refreshed" -eq 0 ] || warn "figure 6: $parallel_not_refreshed refreshes by refresh_all() did not end 'refreshed'"
	run_psql -q -c "SELECT reporting.unregister('bench_heavy_a'), reporting.unregister('bench_heavy_b')" \
		-c 'DROP MATERIALIZED VIEW bench_heavy_a, bench_heavy_b' >/dev/null
}

# CPU time a process has used so far, in milliseconds, two ways: utime +
# stime from /proc/PID/stat (fields 14 and 15, in clock ticks of 1/CLK_TCK
# s, so 10 ms steps), and the time on a CPU from /proc/PID/schedstat
# (nanoseconds; "-" where the kernel does not keep it).  The command name in
# field 2 of stat is "postgres": no spaces to shift the fields.
cpu_ms() {
	local ticks sched=-
	ticks=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.0f", ($14 + $15) * 1000 / hz}' "/proc/$1/stat")
	if [ -r "/proc/$1/schedstat" ]; then sched=$(awk '{printf "%.3f", $1 / 1e6}' "/proc/$1/schedstat"); fi
	echo "$ticks $sched"
}

# ms of CPU per minute between two cpu_ms readings $1 and $2 (field $3: 1
# for clock ticks, 2 for schedstat) over $4 seconds; "-" without the figure
cpu_per_minute() {
	awk -v a="$1" -v b="$2" -v f="$3" -v t="$4" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		if (x[f] == "-" || y[f] == "-") print "-"; else printf "%.2f", (y[f] - x[f]) * 60 / t }'
}

# --- 5. the scheduler: due-to-start latency, idle CPU ----------------------
# Latency: a tiny view registered every => '1 second', refresh_when =>
# 'always'.  A view is due its interval after its last run started, so for
# consecutive scheduled runs the lateness is started_at - (the previous
# started_at + 1 s).  started_at is when the refresh worker had locked the
# view, so this includes starting the worker (figure 6 shows that part on
# its own).  Idle: one view registered every => '1 hour' (nothing due); the
# CPU the scheduler of this database and the launcher use over a window.
# With nothing due the scheduler sleeps up to a minute and the launcher looks
# at the databases every 5 s, so the window is a minute (a shorter one
# would catch the scheduler's wake-up or not, by chance); the smoke run's
# few seconds only show the figure is produced.  Where pg_cron runs, its
# launcher's CPU is read over the same window, with one job not due.
figure_scheduler() {
	local tick_seconds=20 idle_seconds=60
	if [ -n "${REPORTING_BENCH_SHORT:-}" ]; then tick_seconds=5; idle_seconds=3; fi
	idle_seconds=${REPORTING_BENCH_IDLE_SECONDS:-$idle_seconds}
	say "5. the scheduler: due-to-start latency of a view due every second (${tick_seconds}s), then CPU while idle (${idle_seconds}s)"
	unschedule_other_reports
	run_psql -q -c 'ALTER SYSTEM SET reporting.enabled = on' -c 'SELECT pg_reload_conf()' >/dev/null
	local t_start
	t_start=$(run_psql -At -c 'SELECT clock_timestamp()')
	run_psql -q -c 'CREATE MATERIALIZED VIEW bench_tick AS SELECT 1 AS k, clock_timestamp() AS at' \
		-c 'CREATE UNIQUE INDEX ON bench_tick (k)' \
		-c "SELECT reporting.register('bench_tick', every => '1 second', refresh_when => 'always')" >/dev/null
	sleep "$tick_seconds"
	# every run of a view due every second: how late after its due time it
	# started (read before unregistering, which deletes its history)
	run_psql -At -c "SELECT round(extract(epoch FROM started_at - (lag(started_at) OVER (ORDER BY started_at) + interval '1 second')) * 1000, 1)
	                   FROM reporting.runs WHERE origin = 'schedule' AND view::text = 'bench_tick'" |
		grep -v '^$' >"$OUT/scheduler_latency.ms" || true
	local statuses others
	statuses=$(run_psql -At -c "SELECT string_agg(n || ' ' || status, ', ') FROM (SELECT status, count(*) AS n
	                             FROM reporting.runs WHERE view::text = 'bench_tick' GROUP BY status ORDER BY status) s")
	others=$(run_psql -At -c "SELECT count(*) FROM reporting.runs WHERE origin = 'schedule'
	                           AND view::text <> 'bench_tick' AND started_at >= '$t_start'")
	run_psql -q -c "SELECT reporting.unregister('bench_tick')" -c 'DROP MATERIALIZED VIEW bench_tick' >/dev/null
	latency_median=$(median <"$OUT/scheduler_latency.ms")
	latency_max=$(sort -g "$OUT/scheduler_latency.ms" | tail -1)
	latency_runs=$(wc -l <"$OUT/scheduler_latency.ms")
	echo "due-to-start latency: median $latency_median ms, max $latency_max ms ($latency_runs intervals; runs: ${statuses:-none})"
	[ "$others" -eq 0 ] || warn "figure 5: $others scheduled runs of other views during the window"

	# idle: one view scheduled every hour, so nothing is due
	run_psql -q -c 'CREATE MATERIALIZED VIEW bench_idle AS SELECT 1 AS k' -c 'CREATE UNIQUE INDEX ON bench_idle (k)' \
		-c "SELECT reporting.register('bench_idle', every => '1 hour', refresh_when => 'always')" >/dev/null
	sleep 1
	# beside it, pg_cron's launcher (where pg_cron runs) with one job that is
	# not due either (at 03:00 on January 1st)
	local scheduler launcher s0 l0 s1 l1 cron cron_idle_job='' c0 c1
	cron=$(pg_cron_pid)
	[ -n "$cron" ] && cron_idle_job=$(run_psql -At -c "SELECT cron.schedule('bench_idle', '0 3 1 1 *', 'SELECT 1')")
	scheduler=$(run_psql -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'reporting scheduler' AND datname = current_database()")
	launcher=$(run_psql -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'reporting launcher'")
	idle_scheduler_ms_per_min=-; idle_launcher_ms_per_min=-
	idle_scheduler_tick_ms_per_min=-; idle_launcher_tick_ms_per_min=-
	idle_pg_cron_ms_per_min=-; idle_pg_cron_tick_ms_per_min=-
	if [ -z "$scheduler" ] || [ -z "$launcher" ]; then
		warn "figure 5: no scheduler (pid '$scheduler') or launcher (pid '$launcher') in pg_stat_activity"
	else
		s0=$(cpu_ms "$scheduler"); l0=$(cpu_ms "$launcher")
		[ -n "$cron" ] && c0=$(cpu_ms "$cron")
		sleep "$idle_seconds"
		s1=$(cpu_ms "$scheduler"); l1=$(cpu_ms "$launcher")
		[ -n "$cron" ] && c1=$(cpu_ms "$cron")
		if [ -n "$cron" ]; then
			idle_pg_cron_tick_ms_per_min=$(cpu_per_minute "$c0" "$c1" 1 "$idle_seconds")
			idle_pg_cron_ms_per_min=$(cpu_per_minute "$c0" "$c1" 2 "$idle_seconds")
			[ "$idle_pg_cron_ms_per_min" = - ] && idle_pg_cron_ms_per_min=$idle_pg_cron_tick_ms_per_min
		fi
		idle_scheduler_tick_ms_per_min=$(cpu_per_minute "$s0" "$s1" 1 "$idle_seconds")
		idle_launcher_tick_ms_per_min=$(cpu_per_minute "$l0" "$l1" 1 "$idle_seconds")
		idle_scheduler_ms_per_min=$(cpu_per_minute "$s0" "$s1" 2 "$idle_seconds")
		idle_launcher_ms_per_min=$(cpu_per_minute "$l0" "$l1" 2 "$idle_seconds")
		# without schedstat, the clock ticks are all there is
		if [ "$idle_scheduler_ms_per_min" = - ]; then
			idle_scheduler_ms_per_min=$idle_scheduler_tick_ms_per_min
			idle_launcher_ms_per_min=$idle_launcher_tick_ms_per_min
		fi
	fi
	idle_window_seconds=$idle_seconds
	echo "idle CPU per minute: scheduler $idle_scheduler_ms_per_min ms, launcher $idle_launcher_ms_per_min ms (schedstat);" \
		"in $((1000 / $(getconf CLK_TCK))) ms clock ticks (stat): scheduler $idle_scheduler_tick_ms_per_min ms, launcher $idle_launcher_tick_ms_per_min ms"
	if [ -n "$cron" ]; then
		echo "idle CPU per minute, beside it: pg_cron's launcher $idle_pg_cron_ms_per_min ms (schedstat), $idle_pg_cron_tick_ms_per_min ms (clock ticks)"
		run_psql -q -c "SELECT cron.unschedule($cron_idle_job)" >/dev/null
	fi
	run_psql -q -c "SELECT reporting.unregister('bench_idle')" -c 'DROP MATERIALIZED VIEW bench_idle' >/dev/null
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
# every 5 s regardless, by a loop (what a cron job or pg_cron entry does: it
# fires on the ticks of a fixed clock, t0 + 5 s, t0 + 10 s, ..., and a tick
# that falls while the previous refresh still runs is let go).  Both get the
# same window / 5 ticks: the loop's at t0 + 5 s, ..., t0 + window; the
# scheduled view's first refresh is due 5 s after its registration, just
# before t0, and its runs are counted up to half an interval past the end.
# New orders arrive only during the first third of the window.  Measured:
# total refresh time each spent on those ticks, and the longest a committed
# order stayed invisible in each (from its commit to the end of the first
# refresh that started after it: a refresh's snapshot is taken after it
# started).
figure_skipped_work() {
	local window=60
	skip_interval=5
	if [ -n "${REPORTING_BENCH_SHORT:-}" ]; then window=15; fi
	skip_window=$window
	say "4. skipped work over ${window}s, orders arriving in the first third: refresh_when => 'changed' every ${skip_interval}s versus REFRESH CONCURRENTLY every ${skip_interval}s regardless"
	unschedule_other_reports
	run_psql -q <<SQL >/dev/null
SELECT format('CREATE MATERIALIZED VIEW %s AS %s', v, pg_get_viewdef('reporting_daily_revenue'::regclass))
  FROM (VALUES ('bench_changed'), ('bench_fixed')) x (v) \gexec
CREATE UNIQUE INDEX ON bench_changed (day);
CREATE UNIQUE INDEX ON bench_fixed (day);
CREATE TABLE bench_changes (at timestamptz NOT NULL);
CREATE TABLE bench_fixed_runs (started_at timestamptz NOT NULL, finished_at timestamptz NOT NULL);
SELECT reporting.register('bench_changed', every => '${skip_interval} seconds', refresh_when => 'changed');
SQL
	run_psql -q -c 'ALTER SYSTEM SET reporting.enabled = on' -c 'SELECT pg_reload_conf()' >/dev/null
	local start t0
	start=$(run_psql -At -c 'SELECT clock_timestamp()')
	t0=$(date +%s.%N)
	# the cron job
	(
		k=1
		while awk -v k="$k" -v i="$skip_interval" -v w="$window" 'BEGIN {exit !(k * i <= w)}'; do
			sleep "$(awk -v t="$t0" -v k="$k" -v i="$skip_interval" -v now="$(date +%s.%N)" \
				'BEGIN {d = t + k * i - now; printf "%.3f", (d > 0 ? d : 0)}')"
			run_psql -q <<'SQL' >/dev/null
SELECT clock_timestamp() AS t0 \gset
REFRESH MATERIALIZED VIEW CONCURRENTLY bench_fixed;
INSERT INTO bench_fixed_runs VALUES (:'t0', clock_timestamp());
SQL
			# the next tick still ahead
			k=$(awk -v t="$t0" -v k="$k" -v i="$skip_interval" -v now="$(date +%s.%N)" \
				'BEGIN {n = int((now - t) / i) + 1; print (n > k + 1 ? n : k + 1)}')
		done
	) &
	local fixed_loop=$!
	# the writers: an order every half second during the first third
	while awk -v t="$t0" -v now="$(date +%s.%N)" -v w="$window" 'BEGIN {exit !(now - t < w / 3)}'; do
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
	# the scheduler's last tick is due at about t0 + window
	sleep "$(awk -v t="$t0" -v w="$window" -v i="$skip_interval" -v now="$(date +%s.%N)" \
		'BEGIN {d = t + w + i / 2 - now; printf "%.3f", (d > 0 ? d : 0)}')"
	run_psql -q -c 'ALTER SYSTEM SET reporting.enabled = off' -c 'SELECT pg_reload_conf()' >/dev/null
	# let a scheduled refresh that started just before the end finish
	for _ in $(seq 1 600); do
		[ "$(run_psql -At -c "SELECT count(*) FROM reporting.runs WHERE view = 'bench_changed'::regclass AND finished_at IS NULL")" -eq 0 ] && break
		sleep 0.2
	done
	read -r changed_s changed_runs changed_skips changed_lag fixed_s fixed_runs fixed_lag skip_others < <(run_psql -At -F ' ' <<SQL
WITH sched AS (
    SELECT started_at, finished_at, status FROM reporting.runs
     WHERE view = 'bench_changed'::regclass AND origin = 'schedule'
       AND started_at >= '$start' AND started_at < timestamptz '$start' + interval '$window seconds' + interval '$skip_interval seconds' / 2
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
       coalesce(round(extract(epoch FROM (SELECT l FROM lag_changed)), 2)::text, '-'),
       (SELECT round(extract(epoch FROM coalesce(sum(finished_at - started_at), '0')), 2) FROM bench_fixed_runs),
       (SELECT count(*) FROM bench_fixed_runs),
       coalesce(round(extract(epoch FROM (SELECT l FROM lag_fixed)), 2)::text, '-'),
       (SELECT count(*) FROM reporting.runs WHERE origin = 'schedule' AND view <> 'bench_changed'::regclass
                                              AND started_at >= '$start')
  FROM sched
SQL
)
	echo "refresh_when => 'changed': $changed_runs refreshes, $changed_skips skips, ${changed_s}s refreshing; longest invisible: ${changed_lag}s"
	echo "fixed interval:            $fixed_runs refreshes, ${fixed_s}s refreshing; longest invisible: ${fixed_lag}s"
	[ "$skip_others" -eq 0 ] || warn "figure 4: $skip_others scheduled runs of other views during the window"
	run_psql -q -c "SELECT reporting.unregister('bench_changed')" \
		-c 'DROP MATERIALIZED VIEW bench_changed, bench_fixed' -c 'DROP TABLE bench_changes, bench_fixed_runs' >/dev/null
}
