# shellcheck shell=bash disable=SC2034  # the figures' variables are read by bench/run
# Figures 12 and 13: incremental reports (issue 14) against REFRESH
# MATERIALIZED VIEW CONCURRENTLY of the same report, side by side in one
# run.  Sourced by bench/run (on its bench database, once the heavy report
# exists) and by bench/incremental_figures (the same figures on a cluster
# of their own).
#
# 12. On the current database (the worked example with its data, the
#     incremental daily revenue report of example migration 0006, and the
#     heavy report bench/region_daily.sql):
#   a. daily revenue: after 1,000 new orders today, reporting.refresh() of
#      the incremental report versus REFRESH ... CONCURRENTLY of the
#      materialized view (migration 0003);
#   b. the heavy region report rebuilt the way the README teaches: an
#      incremental per-region-and-day base and a plain materialized view
#      with the 30-day window and the rank on top, both refreshed
#      (reporting.refresh of the base, then REFRESH ... CONCURRENTLY of the
#      top), versus REFRESH ... CONCURRENTLY of the heavy view;
#   c. after one order changed in each of half of the days: the incremental
#      report's refresh (which then recomputes everything) versus REFRESH
#      ... CONCURRENTLY of the materialized view (last: it changes orders).
# 13. Refresh time as history grows at a fixed daily volume: for each scale
#     in HISTORY_SCALES, on a fresh database, the example's tables and
#     materialized view (0001 to 0003), the orders loaded at one rate
#     (example/data/load.sql -v days=N: HISTORY_RATE_ORDERS orders per 730
#     days), the incremental report (0006), then figure a's two refreshes.
#     The incremental refresh should stay flat, the full one grow linearly.
#
# Times are wall-clock milliseconds from psql's \timing, the median of
# REFRESH_RUNS runs, each in a session warmed by one cheap statement first
# (as a session or worker refreshing on a schedule is).  A benchmark:
# nothing here passes or fails.
#
# Needs (from the sourcing script): scripts/common.sh and bench/lib.sh
# sourced, the cluster started, PGDATABASE set, OUT (a directory for the
# plot's data) and REFRESH_RUNS.

# The scales of figure 13 and their daily volume: REPORTING_BENCH_HISTORY
# (orders, space-separated; empty to skip the figure) and
# REPORTING_BENCH_HISTORY_RATE (orders per 730 days).  Full: 1, 5 and 20
# million at 5,000,000 per 730 days (about 6,850 a day; 20 million take
# minutes to load); short: 20,000, 50,000 and 100,000 at 50,000 per 730.
incremental_history_defaults() {
	if [ -n "${REPORTING_BENCH_SHORT:-}" ]; then
		HISTORY_SCALES=${REPORTING_BENCH_HISTORY-20000 50000 100000}
		HISTORY_RATE_ORDERS=${REPORTING_BENCH_HISTORY_RATE:-50000}
	else
		HISTORY_SCALES=${REPORTING_BENCH_HISTORY-1000000 5000000 20000000}
		HISTORY_RATE_ORDERS=${REPORTING_BENCH_HISTORY_RATE:-5000000}
	fi
}

# Milliseconds of the statements given, as psql's \timing reports them,
# summed; in a session warmed first by the statement $1 (catalog caches,
# compiled functions: a session refreshing on a schedule has them), then
# running $2 untimed ("" for none).  Prints nothing when nothing was timed
# (a statement failed), so the median is "nan" and the JSON null.
inc_timed() {
	local warm=$1 before=$2
	shift 2
	run_psql -c "$warm" ${before:+-c "$before"} -c '\timing on' "$@" \
		| sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{s += $1} END {if (NR > 0) printf "%.1f\n", s}'
}

# 1,000 new orders today (in the last ten minutes), from existing customers
INC_NEW_ORDERS="INSERT INTO orders (id, customer_id, created_at, total_cents, status)
             SELECT (SELECT max(id) FROM orders) + i,
                    1 + (i * 7919) % (SELECT max(id) FROM customers), now() - (i % 600) * interval '1 second',
                    100 + i % 5000, CASE WHEN i % 10 < 8 THEN 'paid' ELSE 'pending' END
               FROM generate_series(1, 1000) i"
# 1,000 orders changed in the busiest whole day of the last week (UTC
# days, the report's buckets): a whole day's bucket, and the largest, so
# the figure does not depend on the time of day the benchmark runs at
INC_CHANGE_BUSIEST_DAY="WITH busiest AS (
                 SELECT (created_at AT TIME ZONE 'UTC')::date AS day FROM orders
                  WHERE created_at >= now() - interval '8 days'
                    AND created_at < ((now() AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE 'UTC'
                  GROUP BY 1 ORDER BY count(*) DESC LIMIT 1)
             UPDATE orders SET total_cents = total_cents + 1
              WHERE id IN (SELECT o.id FROM orders o, busiest b
                            WHERE o.created_at >= b.day::timestamp AT TIME ZONE 'UTC'
                              AND o.created_at < (b.day + 1)::timestamp AT TIME ZONE 'UTC'
                            ORDER BY o.id LIMIT 1000)"
INC_WARM_LIVE="SELECT reporting.refresh('reporting_daily_revenue_live')"
INC_WARM_MV="SELECT count(*) FROM reporting_daily_revenue"

# psql's boolean (t, f) as JSON (true, false), or null
inc_json_bool() {
	case "${1:-}" in t) echo true ;; f) echo false ;; *) echo null ;; esac
}

# ratio b / a to one decimal, or "nan"
inc_ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a > 0) printf "%.1f", b / a; else print "nan"}'; }

# Figure a's two refreshes on the current database, REFRESH_RUNS times
# each, the statement $1 (default: 1,000 new orders) run before each
# incremental one; sets inc_ms and conc_ms (medians).
inc_daily_revenue_runs() {
	local before=${1:-$INC_NEW_ORDERS} r inc=() conc=()
	# warm the data both read once
	inc_timed "$INC_WARM_MV" "" -c "REFRESH MATERIALIZED VIEW CONCURRENTLY reporting_daily_revenue" >/dev/null
	inc_timed "$INC_WARM_LIVE" "" -c "SELECT reporting.refresh('reporting_daily_revenue_live')" >/dev/null
	for ((r = 0; r < REFRESH_RUNS; r++)); do
		inc+=("$(inc_timed "$INC_WARM_LIVE" "$before" -c "SELECT reporting.refresh('reporting_daily_revenue_live')")")
		conc+=("$(inc_timed "$INC_WARM_MV" "" -c "REFRESH MATERIALIZED VIEW CONCURRENTLY reporting_daily_revenue")")
	done
	inc_ms=$(printf '%s\n' "${inc[@]}" | median)
	conc_ms=$(printf '%s\n' "${conc[@]}" | median)
}

# the mode and bucket count of the daily revenue report's last run
inc_last_run() {
	run_psql -At -c "SELECT mode || ', ' || coalesce(buckets::text, '-') || ' buckets' FROM reporting.runs
	                  WHERE view = 'reporting_daily_revenue_live'::regclass ORDER BY id DESC LIMIT 1"
}

# the number of rows where the daily revenue report differs from its query
inc_verify() {
	run_psql -At -c "SELECT count(*) FROM reporting.verify('reporting_daily_revenue_live')"
}

# The region report rebuilt the README's way, on the current database: an
# incremental base per region and day, and a materialized view with the
# 30-day window and the rank on top (registered, so refresh_all() refreshes
# it after the base).
incremental_region_reports() {
	run_psql >/dev/null <<'SQL'
SELECT reporting.create_incremental('region_daily_base', $q$
    SELECT c.region, o.created_at::date AS day,
           count(*) FILTER (WHERE o.status = 'paid') AS paid_orders,
           count(*) FILTER (WHERE o.status = 'refunded') AS refunds,
           coalesce(sum(o.total_cents) FILTER (WHERE o.status = 'paid'), 0) AS revenue_cents,
           count(DISTINCT o.customer_id) FILTER (WHERE o.status = 'paid') AS buyers
      FROM public.orders o JOIN public.customers c ON c.id = o.customer_id
     WHERE o.created_at >= $1 AND o.created_at < $2
     GROUP BY 1, 2 $q$,
    time_column => 'orders.created_at', bucket_column => 'day',
    time_zone => current_setting('TimeZone'), unique_key => '{region,day}');
CREATE MATERIALIZED VIEW region_daily_top AS
SELECT region, day, paid_orders, refunds, revenue_cents, buyers,
       sum(revenue_cents) OVER (
           PARTITION BY region ORDER BY day
           RANGE BETWEEN interval '29 days' PRECEDING AND CURRENT ROW
       ) AS rolling_30d_revenue_cents,
       rank() OVER (PARTITION BY day ORDER BY revenue_cents DESC) AS rank_in_day
  FROM region_daily_base;
CREATE UNIQUE INDEX ON region_daily_top (region, day);
SELECT reporting.register('region_daily_top');
SQL
}

# Figure 12 on the current database; sets inc_daily_ms, conc_daily_ms,
# inc_day_ms, conc_day_ms (d: the busiest whole day of the last week changed),
# inc_region_ms, conc_region_ms, inc_half_ms, conc_half_ms (medians, ms),
# inc_daily_run and inc_half_run (mode and buckets of the incremental
# report's last run), inc_verify_rows (verify()'s rows after a), and
# inc_region_same (t when the top view equals the heavy view).
figure_incremental() {
	local r inc=() conc=()
	say "12a. daily revenue after 1,000 new orders today: incremental report versus REFRESH ... CONCURRENTLY ($REFRESH_RUNS runs)"
	inc_daily_revenue_runs
	inc_daily_ms=$inc_ms conc_daily_ms=$conc_ms
	inc_daily_run=$(inc_last_run)
	inc_verify_rows=$(inc_verify)
	echo "incremental: $inc_daily_ms ms (last run: $inc_daily_run); concurrently: $conc_daily_ms ms; verify(): $inc_verify_rows differences"

	say "12b. the region report after 1,000 new orders today: incremental base + materialized view on top versus the heavy view ($REFRESH_RUNS runs)"
	incremental_region_reports
	for ((r = 0; r < REFRESH_RUNS; r++)); do
		inc+=("$(inc_timed "SELECT reporting.refresh('region_daily_base')" "$INC_NEW_ORDERS" \
			-c "SELECT reporting.refresh('region_daily_base')" \
			-c "REFRESH MATERIALIZED VIEW CONCURRENTLY region_daily_top")")
		conc+=("$(inc_timed "SELECT count(*) FROM $HEAVY" "" \
			-c "REFRESH MATERIALIZED VIEW CONCURRENTLY $HEAVY")")
	done
	inc_region_ms=$(printf '%s\n' "${inc[@]}" | median)
	conc_region_ms=$(printf '%s\n' "${conc[@]}" | median)
	inc_region_same=$(run_psql -At -c "SELECT NOT EXISTS (
	    (SELECT * FROM region_daily_top EXCEPT ALL SELECT * FROM $HEAVY)
	    UNION ALL (SELECT * FROM $HEAVY EXCEPT ALL SELECT * FROM region_daily_top))")
	echo "base + top: $inc_region_ms ms; the heavy view concurrently: $conc_region_ms ms; same rows: $inc_region_same"

	say "12d. daily revenue after 1,000 orders of the busiest day of the last week changed: a whole day's bucket ($REFRESH_RUNS runs)"
	inc_daily_revenue_runs "$INC_CHANGE_BUSIEST_DAY"
	inc_day_ms=$inc_ms conc_day_ms=$conc_ms
	inc_day_run=$(inc_last_run)
	echo "incremental: $inc_day_ms ms (last run: $inc_day_run); concurrently: $conc_day_ms ms; verify(): $(inc_verify) differences"

	say "12c. after one order changed in each of half of the days"
	run_psql -c "UPDATE orders SET total_cents = total_cents + 1
	              WHERE id IN (SELECT min(id) FROM orders GROUP BY created_at::date
	                            HAVING (created_at::date - date '2000-01-01') % 2 = 0)" >/dev/null
	inc_half_ms=$(inc_timed "SELECT count(*) FROM reporting_daily_revenue_live" "" -c "SELECT reporting.refresh('reporting_daily_revenue_live')")
	conc_half_ms=$(inc_timed "$INC_WARM_MV" "" -c "REFRESH MATERIALIZED VIEW CONCURRENTLY reporting_daily_revenue")
	inc_half_run=$(inc_last_run)
	echo "incremental: $inc_half_ms ms (its run: $inc_half_run); concurrently: $conc_half_ms ms"
}

# One point of figure 13 on a fresh database: load $1 orders over $2 days,
# measure; prints "orders days per_day incremental_ms concurrently_ms
# verify_rows".  Called in a condition (where set -e does not apply), so
# each step returns on failure itself.
incremental_history_point() {
	local orders=$1 days=$2 db=bench_history f per_day span verify
	run_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1 || return 1
	for f in $(example_migrations); do
		case $f in */000[123]_*) run_psql -d "$db" -f "$f" >/dev/null || return 1 ;; esac
	done
	run_psql -d "$db" -v orders="$orders" -v days="$days" -f "$REPO_ROOT/example/data/load.sql" \
		>"$OUT/incremental_history_load_$orders.txt" 2>&1 || return 1
	run_psql -d "$db" -c 'REFRESH MATERIALIZED VIEW reporting_daily_revenue' -c 'VACUUM ANALYZE' >/dev/null || return 1
	run_psql -d "$db" -f "$REPO_ROOT/example/migrations/0006_incremental_daily_revenue.up.sql" >/dev/null || return 1
	# the orders of the last 7 whole days, a day (the daily volume); and
	# the days loaded, from the first order's day to today
	read -r per_day span < <(run_psql -d "$db" -At -F ' ' -c "
	    SELECT round(count(*) FILTER (WHERE created_at >= current_date - 7 AND created_at < current_date) / 7.0),
	           current_date - min(created_at)::date + 1
	      FROM orders") || return 1
	[ "$span" = "$days" ] || warn "figure 13: $orders orders were loaded over $span days, not $days"
	PGDATABASE=$db inc_daily_revenue_runs || return 1
	verify=$(PGDATABASE=$db inc_verify) || return 1
	case "$inc_ms $conc_ms $verify" in *nan*) return 1 ;; esac
	echo "$orders $days $per_day $inc_ms $conc_ms $verify"
	run_psql -d postgres -c "DROP DATABASE $db" >/dev/null || return 1
}

# Figure 13; writes $OUT/incremental_history.dat (one line a scale: orders,
# days, orders a day, incremental ms, concurrently ms, verify rows) and sets
# history_reason (why not measured, or empty) and history_json (the points,
# a JSON array, or null when no point was measured).
figure_incremental_history() {
	local orders days line
	incremental_history_defaults
	: >"$OUT/incremental_history.dat"
	history_json=null history_reason=
	if [ -z "${HISTORY_SCALES// /}" ]; then
		history_reason="REPORTING_BENCH_HISTORY is empty"
		return 0
	fi
	say "13. refresh time as history grows at one daily volume ($HISTORY_RATE_ORDERS orders per 730 days): $HISTORY_SCALES orders, 1,000 new today ($REFRESH_RUNS runs each)"
	for orders in $HISTORY_SCALES; do
		days=$(awk -v o="$orders" -v r="$HISTORY_RATE_ORDERS" 'BEGIN {d = int(o * 730 / r + 0.5); print (d < 1) ? 1 : d}')
		note "$orders orders over $days days, on a fresh database"
		if ! line=$(incremental_history_point "$orders" "$days"); then
			history_reason="the point at $orders orders failed"
			warn "figure 13: $history_reason"
			run_psql -d postgres -c "DROP DATABASE IF EXISTS bench_history" >/dev/null 2>&1 || true
			break
		fi
		echo "$line" >>"$OUT/incremental_history.dat"
		read -r _ _ per_day_n inc_n conc_n verify_n <<<"$line"
		note "about $per_day_n orders a day; incremental $inc_n ms, concurrently $conc_n ms ($(inc_ratio "$inc_n" "$conc_n")x); verify(): $verify_n differences"
	done
	[ -s "$OUT/incremental_history.dat" ] || return 0
	history_json=$(awk 'BEGIN {printf "["}
		{printf "%s{\"orders\": %s, \"days\": %s, \"orders_per_day\": %s, \"incremental_ms\": %s, \"concurrently_ms\": %s, \"verify_differences\": %s}",
		        (NR > 1 ? ", " : ""), $1, $2, $3, $4, $5, $6}
		END {printf "]"}' "$OUT/incremental_history.dat")
}

# The plot of figure 13: refresh time against orders, incremental and
# full, on log-log axes (a flat line stays flat, a linear one has slope 1).
plot_incremental_history() {
	[ -s "$OUT/incremental_history.dat" ] || return 0
	local dat=$OUT/incremental_history.dat
	gnuplot <<PLOT
set terminal pngcairo noenhanced size 1000,500
set output "$OUT/incremental_history.png"
set title "Refresh after 1,000 new orders today as history grows, at one daily volume\n(about $(awk 'NR == 1 {print $3}' "$dat") orders a day in the last week; median of $REFRESH_RUNS runs)"
set xlabel "orders in history (log scale)"
set ylabel "refresh time, ms (log scale)"
set logscale xy
set xrange [$(awk 'NR == 1 {lo = $1} {hi = $1} END {print lo / 1.5 ":" hi * 1.5}' "$dat")]
set format x "%.0s%c"
set grid
set key top left
plot "$dat" using 1:5 with linespoints pt 7 title "REFRESH MATERIALIZED VIEW CONCURRENTLY (full)", \
     "$dat" using 1:4 with linespoints pt 5 title "reporting.refresh() of the incremental report"
PLOT
	echo "plot: $OUT/incremental_history.png"
}
