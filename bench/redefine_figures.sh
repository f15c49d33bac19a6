# shellcheck shell=bash disable=SC2034  # the figures' variables are read by bench/run
# Figure 11, sourced by bench/run once the heavy report exists: how long
# readers of the heavy report are blocked while a deploy changes its query,
# with reporting.redefine() versus what migrations do today (DROP + CREATE
# of the materialized view and its index, in one transaction).  Both sides
# build the same amount (the heavy query over every order, its unique
# index); one reader reads the report all along (pgbench, 1 client, from
# 1 s before the deploy until well after it), and its longest read is the
# time a reader was blocked.  The deploy's own duration is given beside.

# Run SQL file $1 while one reader reads the heavy report; its reads go to
# $OUT/readers_$2.dat ("seconds since start" "latency ms").  Prints the
# longest read (ms) and the deploy's duration (ms).
redefine_blocked_during() {
	local sql=$1 name=$2 duration dir reader t0 t1
	duration=$(awk -v p="$plain_ms" 'BEGIN {printf "%d", p / 1000 * 3 + 6}')
	dir=$(mktemp -d)
	(cd "$dir" && pgbench -n -c 1 -j 1 -T "$duration" -f "$OUT/read_heavy.sql" -l --log-prefix=reader >/dev/null 2>&1) &
	reader=$!
	sleep 1
	t0=$(date +%s%N)
	run_psql -q -f "$sql" >/dev/null
	t1=$(date +%s%N)
	wait "$reader"
	awk 'NR == 1 {t0 = $5 + $6 / 1e6 - $3 / 1e6} {printf "%.3f %.3f\n", $5 + $6 / 1e6 - t0, $3 / 1000}' "$dir"/reader* >"$OUT/readers_$name.dat"
	rm -rf "$dir"
	echo "$(awk '{print $2}' "$OUT/readers_$name.dat" | sort -g | tail -1) $(((t1 - t0) / 1000000))"
}

figure_redefine() {
	say "11. readers of the heavy report during a deploy of a new query: reporting.redefine() versus DROP + CREATE in one transaction"
	local def
	def=$(run_psql -At -c "SELECT rtrim(pg_get_viewdef('$HEAVY'::regclass), ';')")
	# version 2 adds a column; DROP + CREATE then goes back to version 1
	{
		echo "SELECT reporting.redefine('$HEAVY', \$redefine\$"
		echo "SELECT r.*, r.paid_orders - r.refunds AS net_orders FROM ($def) r"
		echo "\$redefine\$);"
	} >"$OUT/deploy_redefine.sql"
	{
		echo "BEGIN;"
		echo "DROP MATERIALIZED VIEW $HEAVY;"
		echo "CREATE MATERIALIZED VIEW $HEAVY AS $def;"
		run_psql -At -c "SELECT pg_get_indexdef(indexrelid) || ';' FROM pg_index WHERE indrelid = '$HEAVY'::regclass"
		echo "COMMIT;"
	} >"$OUT/deploy_drop_create.sql"
	read -r redefine_wait redefine_deploy_ms < <(redefine_blocked_during "$OUT/deploy_redefine.sql" redefine)
	read -r drop_create_wait drop_create_deploy_ms < <(redefine_blocked_during "$OUT/deploy_drop_create.sql" drop_create)
	redefine_kept=$(run_psql -At -c "SELECT count(*) FROM reporting.registrations WHERE view = '$HEAVY'::regclass")
	echo "longest read: $redefine_wait ms during redefine() (deploy ${redefine_deploy_ms} ms), $drop_create_wait ms during DROP + CREATE (deploy ${drop_create_deploy_ms} ms); still registered: $redefine_kept"
}
