# shellcheck shell=bash disable=SC2034  # the figures' variables are read by bench/run
# The figures that compare the scheduler with the real pg_cron (Debian's
# postgresql-15-cron, 1.4.2: minute grain, one row per run in
# cron.job_run_details), preloaded beside reporting in the same cluster:
# 8 (the same job scheduled by both) and 9 (a report whose refresh takes
# longer than its interval), measured side by side in one window; pg_cron's
# idle CPU is read in figure 5's idle window.  Sourced by bench/run.

# pg_cron's files in the PostgreSQL installation the bench runs on
have_pg_cron() {
	[ -f "$("$PG_CONFIG" --pkglibdir)/pg_cron.so" ] &&
		[ -f "$("$PG_CONFIG" --sharedir)/extension/pg_cron.control" ]
}

# Install pg_cron when missing (an optional package, like gnuplot).  With
# REPORTING_PG_BIN naming a relocated copy of PostgreSQL, the Debian package
# lands in the system's tree only: then its library and extension files (and
# nothing else) are copied into the copy.  Sets pg_cron_missing to why it
# cannot be had, or to nothing.  REPORTING_BENCH_NO_PG_CRON=1 runs without
# it (as where it cannot be installed).
ensure_pg_cron() {
	pg_cron_missing=
	if [ -n "${REPORTING_BENCH_NO_PG_CRON:-}" ]; then
		pg_cron_missing="REPORTING_BENCH_NO_PG_CRON is set: run without pg_cron"
		return 1
	fi
	have_pg_cron && return 0
	if ! ensure_optional_package postgresql-15-cron; then
		pg_cron_missing="postgresql-15-cron is not installed and could not be installed"
		return 1
	fi
	have_pg_cron && return 0
	local f libdir sharedir
	libdir=$("$PG_CONFIG" --pkglibdir)
	sharedir=$("$PG_CONFIG" --sharedir)
	note "postgresql-15-cron is installed in the system's PostgreSQL; copying its files into $libdir and $sharedir/extension"
	while IFS= read -r f; do
		case $f in
		/usr/lib/postgresql/15/lib/pg_cron.so) as_root install -m 644 "$f" "$libdir/" ;;
		/usr/share/postgresql/15/extension/pg_cron*) as_root install -m 644 "$f" "$sharedir/extension/" ;;
		esac
	done < <(dpkg -L postgresql-15-cron 2>/dev/null)
	if ! have_pg_cron; then
		pg_cron_missing="postgresql-15-cron is installed, but not in $PG_BIN's PostgreSQL, and its files could not be copied there"
		return 1
	fi
}

# After start_cluster (with pg_cron in shared_preload_libraries) and once the
# bench database exists: point pg_cron at it (cron.database_name is read at
# server start only, so restart), through the cluster's Unix socket (the
# throwaway cluster listens on no TCP address; pg_cron's default is to run
# each job over a libpq connection), and create the extension.
start_pg_cron() {
	as_server_user tee -a "$CLUSTER_DIR/data/postgresql.conf" >/dev/null <<CONF
# added by bench/run: pg_cron, for the figures that compare with it
cron.database_name = 'bench'
cron.host = '$CLUSTER_DIR'
CONF
	as_server_user "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" \
		-w -t 120 restart >/dev/null || die "the server did not restart"
	run_psql -d bench -c 'CREATE EXTENSION pg_cron' >/dev/null
	note "pg_cron $(run_psql -d bench -At -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'") preloaded beside reporting"
}

# The pid of pg_cron's launcher, if it runs
pg_cron_pid() {
	[ -z "${pg_cron_missing:-}" ] || return 0
	run_psql -d bench -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'"
}

# --- 8 and 9: pg_cron versus reporting, one window ------------------------
# 8. The same job: two identical copies of the daily revenue report, one
#    refreshed CONCURRENTLY by pg_cron every minute ('* * * * *', its finest
#    grain in 1.4.2), one registered with reporting on the same cron
#    expression with refresh_when => 'changed' (so both fire on the same
#    whole minutes).  Orders arrive in bursts: an order every half second
#    for 20 s, 10 s after the ticks of minutes 0, 2 and 3 of the window;
#    none in minutes 1 and 4.  Measured: refreshes, time spent refreshing,
#    the longest a committed order stayed invisible (from its commit to the
#    end of the first refresh that started after it; pg_cron's start_time is
#    taken just before it sends the statement, reporting's when its worker
#    has locked the view, so both snapshots come after), and the history
#    rows each wrote (cron.job_run_details versus reporting.runs).
# 9. Overlap, in the same window: a report whose refresh takes longer than
#    its interval (it sleeps SLOW seconds, > 60 s; no CPU), scheduled every
#    minute by both.  pg_cron keeps every tick that falls while the job is
#    running as a pending run and starts them one after another; reporting
#    waits for the running refresh and starts one more, whatever number of
#    due times passed.  Measured: runs started, runs started while a
#    previous one was still running, ticks that fell while a run was
#    running, and the runs still owed at the end of the window (pg_cron: the
#    ticks so far minus the runs it started, all queued; reporting: 1 if the
#    view is due, else 0); then pg_cron's queue is let through (the refresh
#    made instant) and the runs it starts are counted.
# Both figures share the window: 9's refreshes sleep, and reporting has two
# workers (one each).  The window starts 2 s after a whole minute (so that
# pg_cron has handled that minute before the jobs exist) and ends 30 s after
# the fifth tick.
figure_pg_cron() {
	local slow=150 burst_minutes="0 2 3"
	pg_cron_reason=
	slow_seconds=$slow
	if [ -n "${pg_cron_missing:-}" ]; then
		pg_cron_reason=$pg_cron_missing
	elif [ -n "${REPORTING_BENCH_SHORT:-}" ]; then
		pg_cron_reason="not run in the short mode: pg_cron's finest grain is a minute, so these figures need a window of at least 5 minutes"
	fi
	cron_runs=-; cron_s=-; cron_lag=-; cron_history=-
	rep_runs=-; rep_skips=-; rep_s=-; rep_lag=-; rep_history=-
	cron_slow_runs=-; cron_slow_overlaps=-; cron_slow_ticks_busy=-; cron_slow_owed=-; cron_slow_back_to_back=-
	cron_slow_drained=-
	rep_slow_runs=-; rep_slow_overlaps=-; rep_slow_ticks_busy=-; rep_slow_owed=-; rep_slow_back_to_back=-
	pg_cron_window_seconds=-
	if [ -n "$pg_cron_reason" ]; then
		say "8, 9. pg_cron versus reporting: not measured ($pg_cron_reason)"
		return 0
	fi
	say "8, 9. pg_cron versus reporting over 5 minutes: the daily revenue report every minute, orders in bursts (minutes $burst_minutes); a report whose refresh takes ${slow}s, every minute"
	unschedule_other_reports
	run_psql -q <<SQL >/dev/null
SELECT format('CREATE MATERIALIZED VIEW %s AS %s', v, pg_get_viewdef('reporting_daily_revenue'::regclass))
  FROM (VALUES ('bench_by_cron'), ('bench_by_reporting')) x (v) \gexec
CREATE UNIQUE INDEX ON bench_by_cron (day);
CREATE UNIQUE INDEX ON bench_by_reporting (day);
CREATE TABLE bench_cron_changes (at timestamptz NOT NULL);
-- the slow report: its refresh sleeps bench_slow_seconds.s seconds
CREATE TABLE bench_slow_seconds (s float8 NOT NULL);
INSERT INTO bench_slow_seconds VALUES (0);
CREATE MATERIALIZED VIEW bench_slow_by_cron AS SELECT 1 AS k FROM bench_slow_seconds, pg_sleep(s);
CREATE MATERIALIZED VIEW bench_slow_by_reporting AS SELECT 1 AS k FROM bench_slow_seconds, pg_sleep(s);
CREATE UNIQUE INDEX ON bench_slow_by_cron (k);
CREATE UNIQUE INDEX ON bench_slow_by_reporting (k);
UPDATE bench_slow_seconds SET s = $slow;
SQL
	run_psql -q -c 'ALTER SYSTEM SET reporting.enabled = on' -c 'SELECT pg_reload_conf()' >/dev/null
	# 2 s past the next whole minute
	local minute sched_at end_at cron_job cron_slow_job
	minute=$(awk -v now="$(date +%s.%N)" 'BEGIN {printf "%d", (int(now / 60) + 1) * 60}')
	sleep "$(awk -v m="$minute" -v now="$(date +%s.%N)" 'BEGIN {d = m + 2 - now; printf "%.3f", (d > 0 ? d : 0)}')"
	# (the timestamp last: it holds a space)
	read -r cron_job cron_slow_job sched_at < <(run_psql -At -F ' ' <<SQL
SELECT reporting.register('bench_by_reporting', cron => '* * * * *', refresh_when => 'changed') \gset
SELECT reporting.register('bench_slow_by_reporting', cron => '* * * * *', refresh_when => 'always',
                          statement_timeout => '1 hour') \gset
SELECT cron.schedule('bench_by_cron', '* * * * *', 'REFRESH MATERIALIZED VIEW CONCURRENTLY bench_by_cron'),
       cron.schedule('bench_slow_by_cron', '* * * * *', 'REFRESH MATERIALIZED VIEW CONCURRENTLY bench_slow_by_cron'),
       clock_timestamp();
SQL
)
	local window=$((5 * 60 + 30))
	pg_cron_window_seconds=$window
	end_at=$((minute + window))
	# the writers: bursts of an order every half second, 20 s long, starting
	# 10 s past the whole minutes that start the burst minutes
	local m
	for m in $burst_minutes; do
		sleep "$(awk -v t="$((minute + m * 60 + 10))" -v now="$(date +%s.%N)" 'BEGIN {d = t - now; printf "%.3f", (d > 0 ? d : 0)}')"
		while awk -v t="$((minute + m * 60 + 30))" -v now="$(date +%s.%N)" 'BEGIN {exit !(now < t)}'; do
			run_psql -q <<'SQL' >/dev/null
BEGIN;
INSERT INTO orders (id, customer_id, created_at, total_cents, status)
SELECT max(id) + 1, 1, now(), 4200, 'paid' FROM orders;
INSERT INTO bench_cron_changes VALUES (clock_timestamp());
COMMIT;
SQL
			sleep 0.5
		done
	done
	sleep "$(awk -v t="$end_at" -v now="$(date +%s.%N)" 'BEGIN {d = t - now; printf "%.3f", (d > 0 ? d : 0)}')"
	local end_ts
	end_ts=$(run_psql -At -c 'SELECT clock_timestamp()')
	# the runs each owes now, before anything is stopped: pg_cron's are the
	# ticks since the job was scheduled minus the runs it started
	read -r cron_slow_owed rep_slow_owed < <(run_psql -At -F ' ' <<SQL
SELECT (SELECT count(*) FROM generate_series(date_trunc('minute', timestamptz '$sched_at') + interval '1 minute',
                                             timestamptz '$end_ts', interval '1 minute'))
       - (SELECT count(*) FROM cron.job_run_details WHERE jobid = $cron_slow_job),
       (SELECT count(*) FROM reporting._scheduled()
         WHERE view = 'bench_slow_by_reporting'::regclass AND next_refresh_at <= now())
SQL
)
	# stop reporting and pg_cron's daily revenue job; then let pg_cron's
	# queue for the slow report through and count it: its refresh no longer
	# sleeps (for the runs that start from now on), the one sleeping is
	# cancelled, and pg_cron starts its pending runs one after another; done
	# when none has started for 2 s (20 s at most, before the next tick)
	run_psql -q -c "SELECT cron.unschedule($cron_job)" -c 'UPDATE bench_slow_seconds SET s = 0' \
		-c 'ALTER SYSTEM SET reporting.enabled = off' -c 'SELECT pg_reload_conf()' >/dev/null
	local last=-1 count still=0
	for _ in $(seq 1 100); do
		run_psql -q -At -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
		                     WHERE query ~ 'bench_slow_by' AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()" >/dev/null
		count=$(run_psql -At -c "SELECT count(*) FROM cron.job_run_details WHERE jobid = $cron_slow_job")
		if [ "$count" -eq "$last" ]; then still=$((still + 1)); else still=0; last=$count; fi
		[ "$still" -ge 10 ] && break
		sleep 0.2
	done
	cron_slow_drained=$(run_psql -At -c "SELECT count(*) FROM cron.job_run_details WHERE jobid = $cron_slow_job AND start_time >= '$end_ts'")
	run_psql -q -c "SELECT cron.unschedule($cron_slow_job)" >/dev/null
	# let whatever still runs finish
	for _ in $(seq 1 300); do
		run_psql -q -At -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
		                     WHERE query ~ 'bench_slow_by' AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()" >/dev/null
		[ "$(run_psql -At -c "SELECT (SELECT count(*) FROM cron.job_run_details WHERE jobid IN ($cron_job, $cron_slow_job)
		                                                                        AND status IN ('starting', 'running'))
		                           + (SELECT count(*) FROM reporting.runs WHERE finished_at IS NULL
		                                AND view IN ('bench_by_reporting'::regclass, 'bench_slow_by_reporting'::regclass))")" -eq 0 ] && break
		sleep 0.2
	done
	read -r cron_runs cron_s cron_lag cron_history rep_runs rep_skips rep_s rep_lag rep_history < <(run_psql -At -F ' ' <<SQL
WITH c AS (
    SELECT start_time AS started_at, end_time AS finished_at, status = 'succeeded' AS ok
      FROM cron.job_run_details WHERE jobid = $cron_job AND start_time < '$end_ts'
), r AS (
    SELECT started_at, finished_at, status = 'refreshed' AS ok, status
      FROM reporting.runs WHERE view = 'bench_by_reporting'::regclass AND origin = 'schedule'
       AND started_at < '$end_ts'
)
SELECT (SELECT count(*) FILTER (WHERE ok) FROM c),
       (SELECT round(extract(epoch FROM coalesce(sum(finished_at - started_at) FILTER (WHERE ok), '0')), 2) FROM c),
       coalesce((SELECT round(extract(epoch FROM max((SELECT min(c.finished_at) FROM c WHERE c.ok AND c.started_at > o.at) - o.at)), 2)
                   FROM bench_cron_changes o)::text, '-'),
       (SELECT count(*) FROM cron.job_run_details WHERE jobid = $cron_job),
       (SELECT count(*) FILTER (WHERE ok) FROM r),
       (SELECT count(*) FILTER (WHERE status = 'skipped') FROM r),
       (SELECT round(extract(epoch FROM coalesce(sum(finished_at - started_at) FILTER (WHERE ok), '0')), 2) FROM r),
       coalesce((SELECT round(extract(epoch FROM max((SELECT min(r.finished_at) FROM r WHERE r.ok AND r.started_at > o.at) - o.at)), 2)
                   FROM bench_cron_changes o)::text, '-'),
       (SELECT count(*) FROM reporting.runs WHERE view = 'bench_by_reporting'::regclass)
SQL
)
	# 9: for each scheduler's runs of the slow report (started in the window;
	# one cancelled at the end counts as running until then)
	read -r cron_slow_runs cron_slow_overlaps cron_slow_back_to_back cron_slow_ticks_busy \
		rep_slow_runs rep_slow_overlaps rep_slow_back_to_back rep_slow_ticks_busy < <(run_psql -At -F ' ' <<SQL
WITH runs AS (
    SELECT 'cron' AS who, start_time AS s, least(coalesce(end_time, '$end_ts'), '$end_ts') AS e
      FROM cron.job_run_details WHERE jobid = $cron_slow_job AND start_time < '$end_ts'
    UNION ALL
    SELECT 'reporting', started_at, least(coalesce(finished_at, '$end_ts'), '$end_ts')
      FROM reporting.runs WHERE view = 'bench_slow_by_reporting'::regclass AND origin = 'schedule'
       AND status <> 'skipped' AND started_at < '$end_ts'
), ordered AS (
    SELECT who, s, e, lag(e) OVER (PARTITION BY who ORDER BY s) AS previous_end FROM runs
), ticks AS (
    SELECT t FROM generate_series(date_trunc('minute', timestamptz '$sched_at') + interval '1 minute',
                                  timestamptz '$end_ts', interval '1 minute') t
), per AS (
    SELECT w.who,
           (SELECT count(*) FROM ordered o WHERE o.who = w.who) AS runs,
           (SELECT count(*) FROM ordered o WHERE o.who = w.who AND o.s < o.previous_end) AS n_overlaps,
           (SELECT count(*) FROM ordered o WHERE o.who = w.who AND o.s >= o.previous_end
                                              AND o.s < o.previous_end + interval '2 seconds') AS back_to_back,
           (SELECT count(*) FROM ticks WHERE EXISTS (SELECT FROM runs r WHERE r.who = w.who AND r.s < ticks.t AND ticks.t < r.e)) AS ticks_busy
      FROM (VALUES ('cron'), ('reporting')) w (who)
)
SELECT string_agg(concat_ws(' ', runs, n_overlaps, back_to_back, ticks_busy), ' ' ORDER BY who) FROM per
SQL
)
	# for the plot: each run as "lane start end" in seconds since the whole
	# minute the window starts after (lanes 1-4: the same job by pg_cron and
	# by reporting, the slow report by pg_cron and by reporting; reporting's
	# skips as zero-length runs), and the orders' commit times
	run_psql -At -F ' ' >"$OUT/pg_cron_runs.dat" <<SQL
WITH runs AS (
    SELECT CASE jobid WHEN $cron_job THEN 1 ELSE 3 END AS lane, start_time AS s, coalesce(end_time, '$end_ts') AS e
      FROM cron.job_run_details WHERE jobid IN ($cron_job, $cron_slow_job)
    UNION ALL
    SELECT CASE WHEN view = 'bench_by_reporting'::regclass THEN 2 ELSE 4 END, started_at, coalesce(finished_at, '$end_ts')
      FROM reporting.runs WHERE view IN ('bench_by_reporting'::regclass, 'bench_slow_by_reporting'::regclass)
                            AND origin = 'schedule'
)
SELECT lane, round(extract(epoch FROM s - to_timestamp($minute))::numeric, 2),
       round(extract(epoch FROM least(e, '$end_ts') - to_timestamp($minute))::numeric, 2)
  FROM runs WHERE s < '$end_ts' ORDER BY lane, s
SQL
	run_psql -At -c "SELECT round(extract(epoch FROM at - to_timestamp($minute))::numeric, 2) FROM bench_cron_changes ORDER BY at" \
		>"$OUT/pg_cron_orders.dat"
	echo "8. pg_cron:   $cron_runs refreshes, ${cron_s}s refreshing, longest invisible ${cron_lag}s, $cron_history rows in cron.job_run_details"
	echo "   reporting: $rep_runs refreshes + $rep_skips skips, ${rep_s}s refreshing, longest invisible ${rep_lag}s, $rep_history rows in reporting.runs"
	echo "9. a ${slow}s refresh every minute: pg_cron started $cron_slow_runs ($cron_slow_overlaps while one ran, $cron_slow_back_to_back right after one), $cron_slow_ticks_busy ticks while one ran, $cron_slow_owed runs still queued;"
	echo "   let through, the queue ran $cron_slow_drained more times, one after another"
	echo "   reporting started $rep_slow_runs ($rep_slow_overlaps while one ran, $rep_slow_back_to_back right after one), $rep_slow_ticks_busy due times while one ran, $rep_slow_owed run still owed"
	run_psql -q -c "SELECT reporting.unregister('bench_by_reporting'), reporting.unregister('bench_slow_by_reporting')" \
		-c 'DROP MATERIALIZED VIEW bench_by_cron, bench_by_reporting, bench_slow_by_cron, bench_slow_by_reporting' \
		-c 'DROP TABLE bench_cron_changes, bench_slow_seconds' >/dev/null
}

# --- 10. the cost of asking whether a report is fresh ----------------------
# What an API pays on each request that checks before it serves a number:
# reporting.assert_fresh() and a SELECT from reporting.status for one view,
# beside reading the report itself (the last 90 days of daily revenue, as in
# figure 1), with 1 and with 100 registered views.  pgbench, 1 client, one
# statement per transaction, each transaction's latency from its log (so
# each figure includes the client round trip, alike for the three).  Run
# last: it unregisters every other report (their history goes with them),
# then registers 99 small views that read orders (an index lookup each).
figure_freshness_cost() {
	local seconds=10 views n
	[ -n "${REPORTING_BENCH_SHORT:-}" ] && seconds=1
	say "10. the cost of a freshness check: assert_fresh() and reporting.status for one view versus reading the report (pgbench, 1 client, ${seconds}s each), with 1 and with 100 registered views"
	run_psql -q -c "SELECT reporting.unregister(view) FROM reporting.registrations WHERE view <> 'reporting_daily_revenue'::regclass" \
		-c "SELECT reporting.refresh('reporting_daily_revenue')" >/dev/null
	echo "SELECT reporting.assert_fresh('reporting_daily_revenue', '1 hour');" >"$OUT/fresh_assert.sql"
	echo "SELECT * FROM reporting.freshness('reporting_daily_revenue');" >"$OUT/fresh_freshness.sql"
	echo "SELECT * FROM reporting.status WHERE view = 'reporting_daily_revenue'::regclass;" >"$OUT/fresh_status.sql"
	echo "SELECT * FROM reporting_daily_revenue WHERE day >= current_date - 90;" >"$OUT/fresh_read.sql"
	for views in 1 100; do
		if [ "$views" -eq 100 ]; then
			run_psql -q <<'SQL' >/dev/null
SELECT format('CREATE MATERIALIZED VIEW bench_fresh_%s AS SELECT id, total_cents FROM orders WHERE id = %s', i, i),
       format('CREATE UNIQUE INDEX ON bench_fresh_%s (id)', i),
       format('SELECT reporting.register(%L)', 'bench_fresh_' || i),
       format('SELECT reporting.refresh(%L)', 'bench_fresh_' || i)
  FROM generate_series(1, 99) i \gexec
SQL
		fi
		n=$(run_psql -At -c 'SELECT count(*) FROM reporting.registrations')
		[ "$n" -eq "$views" ] || warn "figure 10: $n registered views, not $views"
		for what in assert freshness status read; do
			pgbench_latencies "$OUT/fresh_$what.sql" "$seconds" 1 |
				awk '{printf "%.0f\n", $1 * 1000}' >"$OUT/fresh_${what}_$views.us"
		done
		freshness_in_server "$views"
	done
	for views in 1 100; do
		for what in assert freshness status read; do
			printf -v "fresh_${what}_${views}_median" '%s' "$(median <"$OUT/fresh_${what}_$views.us")"
			printf -v "fresh_${what}_${views}_p99" '%s' "$(percentile 99 <"$OUT/fresh_${what}_$views.us")"
			printf -v "fresh_${what}_${views}_n" '%s' "$(wc -l <"$OUT/fresh_${what}_$views.us")"
		done
		local am="fresh_assert_${views}_median" ap="fresh_assert_${views}_p99" sm="fresh_status_${views}_median" \
			sp="fresh_status_${views}_p99" rm="fresh_read_${views}_median" rp="fresh_read_${views}_p99"
		echo "$views registered: assert_fresh ${!am} (${!ap}) us, status ${!sm} (${!sp}) us, reading the report ${!rm} (${!rp}) us (median (p99))"
	done
}

# The cost of freshness() inside the server, without the client round trip:
# microseconds per call over N calls in one statement, cycling through every
# registered view, answered from the cache (filled by a first pass), beside
# the same answers computed afresh (_freshness_row(), what a call costs after
# a change); and a whole SELECT from reporting.status, in ms.  Sets
# fresh_cached_VIEWS, fresh_computed_VIEWS, fresh_status_all_VIEWS.
freshness_in_server() {
	local views=$1 out
	out=$(run_psql -At 2>&1 <<'SQL'
DO $$
DECLARE
    t0 timestamptz;
    n int;
    v regclass[] := ARRAY(SELECT view FROM reporting.registrations ORDER BY view);
BEGIN
    PERFORM reporting.freshness(x) FROM unnest(v) x;
    n := greatest(20000 / cardinality(v), 1) * cardinality(v);
    t0 := clock_timestamp();
    PERFORM reporting.freshness(v[1 + g % cardinality(v)]) FROM generate_series(0, n - 1) g;
    RAISE NOTICE 'cached %', round(extract(epoch FROM clock_timestamp() - t0) * 1e6 / n, 2);
    n := least(cardinality(v) * 5, 200);
    t0 := clock_timestamp();
    PERFORM reporting._freshness_row(v[1 + g % cardinality(v)]) FROM generate_series(0, n - 1) g;
    RAISE NOTICE 'computed %', round(extract(epoch FROM clock_timestamp() - t0) * 1e6 / n, 2);
    PERFORM count(*) FROM reporting.status;
    t0 := clock_timestamp();
    PERFORM count(*) FROM reporting.status;
    RAISE NOTICE 'status %', round(extract(epoch FROM clock_timestamp() - t0) * 1e3, 2);
END $$;
SQL
)
	printf -v "fresh_cached_$views" '%s' "$(sed -n 's/^NOTICE:  cached //p' <<<"$out")"
	printf -v "fresh_computed_$views" '%s' "$(sed -n 's/^NOTICE:  computed //p' <<<"$out")"
	printf -v "fresh_status_all_$views" '%s' "$(sed -n 's/^NOTICE:  status //p' <<<"$out")"
	local c="fresh_cached_$views" k="fresh_computed_$views" a="fresh_status_all_$views"
	echo "$views registered, in the server: freshness() ${!c} us per call from the cache, ${!k} us computed afresh; all of reporting.status ${!a} ms"
}

# The plot of figures 8 and 9: every run of the four jobs over the window,
# as bars (reporting's skips as ticks), and the orders' commits below them.
plot_pg_cron() {
	[ -s "$OUT/pg_cron_runs.dat" ] || return 0
	gnuplot <<PLOT
set terminal pngcairo noenhanced size 1100,420
set output "$OUT/pg_cron_vs_reporting.png"
set title "Refreshes over the window, pg_cron versus reporting, both every minute ($ORDERS orders)"
set xlabel "seconds since the whole minute the window starts after (ticks every 60 s)"
set xtics 60
set grid xtics
set ytics ("orders committed" 0, "daily revenue: pg_cron" 1, "daily revenue: reporting (changed)" 2, "${slow_seconds}s report: pg_cron" 3, "${slow_seconds}s report: reporting" 4)
set yrange [-0.7:4.7]
set xrange [0:*]
unset key
plot "$OUT/pg_cron_runs.dat" using 2:1:(\$3 - \$2):(0) with vectors nohead lw 10 lc rgb "#3366aa", \
     "$OUT/pg_cron_runs.dat" using 2:1 with points pt 2 ps 1.2 lc rgb "#000000", \
     "$OUT/pg_cron_orders.dat" using 1:(0) with points pt 7 ps 0.5 lc rgb "#aa3333"
PLOT
	echo "plot: $OUT/pg_cron_vs_reporting.png"
}
