# shellcheck shell=bash
# Shared by the benchmarks in bench/: statistics over pgbench runs.  Figures
# are printed, never judged: a benchmark does not pass or fail.

# the median of numbers given on stdin, one or more per line
median() {
	tr ' ' '\n' | grep -v '^$' | sort -g \
		| awk '{a[NR] = $1} END {if (NR == 0) print "nan"; else print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

# the p-th percentile (0-100) of numbers on stdin, nearest rank
percentile() {
	local p=$1
	grep -v '^$' | sort -g | awk -v p="$p" '{a[NR] = $1} END {if (NR == 0) {print "nan"; exit} r = int((p / 100) * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR; print a[r]}'
}

# tps of one pgbench run: pgbench_tps SCRIPT SECONDS CLIENTS
pgbench_tps() {
	pgbench -n -c "$3" -j "$3" -T "$2" -f "$1" 2>&1 | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

# per-transaction latencies in ms of one pgbench run, one per line:
# pgbench_latencies SCRIPT SECONDS CLIENTS
pgbench_latencies() {
	local dir
	dir=$(mktemp -d)
	(cd "$dir" && pgbench -n -c "$3" -j "$3" -T "$2" -f "$1" -l --log-prefix=lat >/dev/null 2>&1)
	cat "$dir"/lat* | awk '{printf "%.3f\n", $3 / 1000}'
	rm -rf "$dir"
}

# a description of the machine, for every table of figures
machine_line() {
	echo "$(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(postgres --version | sed 's/^postgres (PostgreSQL) /PostgreSQL /')"
}

# a figure for the JSON: the number itself, or null when there is none
# (empty, "-", nan)
json_num() {
	case "${1:-}" in
	'' | - | nan | -nan | inf | -inf) echo null ;;
	*) echo "$1" ;;
	esac
}

# a string for the JSON: quoted (with " and \ escaped), or null when empty
json_str() {
	if [ -z "${1:-}" ]; then echo null; else printf '"%s"\n' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')"; fi
}
