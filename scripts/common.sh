# shellcheck shell=bash
# Shared by scripts/demo, scripts/test and bench/*: install what is missing,
# build and install the extension, and run a throwaway PostgreSQL 15 cluster.
#
# Works on a fresh Debian 12 machine as root (the server then runs as the
# unprivileged "postgres" OS user, since PostgreSQL refuses to run as root)
# and as a normal user with sudo.  Sourcing this file installs an EXIT trap
# (see at_exit); scripts that source it must not install their own.
#
# Environment (all optional):
#   REPORTING_PRELOAD           shared_preload_libraries of the cluster
#                               (default "reporting"; empty to preload nothing)
#   REPORTING_PORT_BASE         first port tried for the cluster (default 55432)
#   REPORTING_FSYNC             fsync of the cluster (default off)
#   REPORTING_SYNCHRONOUS_COMMIT, REPORTING_SHARED_BUFFERS   likewise

# REPORTING_PG_BIN: another PostgreSQL 15 installation (a relocated copy), so that
# several checkouts can build, install and test side by side
PG_BIN=${REPORTING_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=$PG_BIN/pg_config
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PG_BIN:$PATH"

# Progress and errors.
say() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command as root: directly when we are root, else through sudo.
as_root() {
	if is_root; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "\"$1\" needs root: run this script as root, or install sudo"
	fi
}

# Run a command as the OS user that owns the throwaway cluster.
as_server_user() {
	if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

# --- exit handling -------------------------------------------------------
# at_exit COMMAND [ARG...]: run it when the script exits, however it exits
# (last registered runs first).  The exit status is in EXIT_STATUS meanwhile.
# Subshells do not inherit the trap, so a suite run in ( ... ) cannot stop
# the cluster of the script that runs it.
_EXIT_HOOKS=()
at_exit() {
	_EXIT_HOOKS+=("$(printf '%q ' "$@")")
}
_run_exit_hooks() {
	EXIT_STATUS=$?
	set +e
	trap '' INT TERM HUP
	local i
	for ((i = ${#_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${_EXIT_HOOKS[i]}"
	done
	exit "$EXIT_STATUS"
}
trap _run_exit_hooks EXIT
# Without these, bash runs the EXIT trap with status 0 after a signal.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# --- packages and build --------------------------------------------------

# Install the Debian packages the build and the suites need, only if missing.
ensure_packages() {
	local wanted=(postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
		libtap-parser-sourcehandler-pgtap-perl libipc-run-perl
		python3-psycopg2 make gcc libc6-dev)
	local missing=() pkg log
	for pkg in "${wanted[@]}"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
			|| missing+=("$pkg")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		say "installing missing Debian packages: ${missing[*]}"
		log=$(mktemp /tmp/reporting-apt.XXXXXX)
		if ! { as_root apt-get update -q \
			&& as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; } \
			>"$log" 2>&1; then
			tail -40 "$log" >&2
			rm -f "$log"
			die "could not install ${missing[*]}"
		fi
		rm -f "$log"
	fi
	[ -x "$PG_CONFIG" ] || die "$PG_CONFIG is missing"
	if is_root; then
		id postgres >/dev/null 2>&1 || die "the postgres OS user is missing (it comes with postgresql-15)"
	fi
}

# Install an optional Debian package if it is missing; say so and go on when
# it cannot be had.  Returns non-zero when it is not installed.
ensure_optional_package() {
	local pkg=$1
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' && return 0
	note "installing optional package $pkg"
	if { as_root apt-get update -q \
		&& as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg"; } >/dev/null 2>&1; then
		return 0
	fi
	warn "could not install $pkg"
	return 1
}

# Build with warnings as errors, then install into PostgreSQL 15.
build_install() {
	say "building (make, warnings are errors)"
	make -s -C "$REPO_ROOT" PG_CONFIG="$PG_CONFIG" COPT=-Werror >/dev/null \
		|| die "the build failed"
	say "installing the extension into PostgreSQL 15 (make install)"
	as_root make -s -C "$REPO_ROOT" PG_CONFIG="$PG_CONFIG" install >/dev/null \
		|| die "make install failed"
}

# --- the throwaway cluster -----------------------------------------------

# Whether anything on this machine listens on PORT: a Unix socket
# .s.PGSQL.PORT in any directory, or a TCP socket (IPv4 or IPv6).
port_in_use() {
	local port=$1 hex
	hex=$(printf '%04X' "$port")
	grep -q "\.s\.PGSQL\.$port\$" /proc/net/unix 2>/dev/null && return 0
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null \
		| awk -v h="$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 3) == h {f = 1} END {exit !f}'
}

# The first port from REPORTING_PORT_BASE (55432) up that nothing uses.  The
# cluster's socket lives in its own directory, so even two scripts racing
# for one port would not collide; this keeps the process list readable.
free_port() {
	local base=${REPORTING_PORT_BASE:-55432} port
	for ((port = base; port < base + 200; port++)); do
		if ! port_in_use "$port"; then
			echo "$port"
			return 0
		fi
	done
	echo "$base"
}

# start_cluster NAME [keep]: initdb and start a throwaway cluster in a fresh
# directory /tmp/reporting-NAME.XXXXXX, the library preloaded; exports
# PGHOST, PGPORT, PGUSER, PGDATABASE and sets CLUSTER_DIR.  On exit it is
# stopped and removed, and if the script failed the end of its log is shown;
# with "keep" it is left running when the script succeeds.
start_cluster() {
	local name=$1 port
	CLUSTER_KEEP=${2:-}
	CLUSTER_DIR=$(mktemp -d "/tmp/reporting-$name.XXXXXX")
	at_exit stop_cluster
	chmod 755 "$CLUSTER_DIR"
	if is_root; then chown postgres:postgres "$CLUSTER_DIR"; fi
	port=$(free_port)
	say "starting a throwaway PostgreSQL 15 cluster in $CLUSTER_DIR (port $port)"
	as_server_user "$PG_BIN/initdb" -D "$CLUSTER_DIR/data" -A trust -U postgres \
		--no-sync -E UTF8 --locale=C.UTF-8 >"$CLUSTER_DIR/initdb.log" 2>&1 \
		|| { cat "$CLUSTER_DIR/initdb.log" >&2; die "initdb failed"; }
	as_server_user tee -a "$CLUSTER_DIR/data/postgresql.conf" >/dev/null <<CONF

# added by scripts/common.sh (a throwaway cluster)
port = $port
listen_addresses = ''
unix_socket_directories = '$CLUSTER_DIR'
shared_preload_libraries = '${REPORTING_PRELOAD-reporting}'
max_prepared_transactions = 10
# the launcher, a scheduler per database with the extension, refresh workers
max_worker_processes = 16
fsync = ${REPORTING_FSYNC:-off}
synchronous_commit = ${REPORTING_SYNCHRONOUS_COMMIT:-on}
shared_buffers = ${REPORTING_SHARED_BUFFERS:-512MB}
work_mem = 64MB
maintenance_work_mem = 256MB
max_wal_size = 4GB
log_min_messages = warning
CONF
	export PGHOST=$CLUSTER_DIR PGPORT=$port PGUSER=postgres PGDATABASE=postgres
	as_server_user "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" \
		-w -t 120 start >/dev/null \
		|| die "the server did not start"
	note "server log: $CLUSTER_DIR/server.log"
}

# The command that stops the cluster and removes its directory, for people.
cluster_stop_command() {
	local cmd="$PG_BIN/pg_ctl -D $CLUSTER_DIR/data stop && rm -rf $CLUSTER_DIR"
	if is_root; then cmd="runuser -u postgres -- $cmd"; fi
	echo "$cmd"
}

# Exit hook of start_cluster: stop and remove the cluster, unless it is kept
# and the script succeeded; on failure show the end of the server log.
stop_cluster() {
	local status=${EXIT_STATUS:-0}
	if [ -z "${CLUSTER_DIR:-}" ] || [ ! -d "$CLUSTER_DIR" ]; then
		return 0
	fi
	if [ "$status" -ne 0 ] && [ -s "$CLUSTER_DIR/server.log" ]; then
		echo "--- last lines of the server log ($CLUSTER_DIR/server.log) ---" >&2
		tail -40 "$CLUSTER_DIR/server.log" >&2
		echo "---" >&2
	fi
	if [ "$status" -eq 0 ] && [ -n "${CLUSTER_KEEP:-}" ]; then
		return 0
	fi
	if [ -f "$CLUSTER_DIR/data/postmaster.pid" ]; then
		as_server_user "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1 \
			|| as_server_user "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate -w stop >/dev/null 2>&1 \
			|| warn "could not stop the cluster in $CLUSTER_DIR"
	fi
	rm -rf "$CLUSTER_DIR"
	CLUSTER_DIR=
}

# --- SQL -----------------------------------------------------------------

# psql that stops at the first error and reads no ~/.psqlrc
run_psql() {
	psql -X -v ON_ERROR_STOP=1 -q "$@"
}

# The worked example's migrations, in name order (C collation).
example_migrations() {
	local f
	for f in "$REPO_ROOT"/example/migrations/*.up.sql; do
		[ -e "$f" ] && printf '%s\n' "$f"
	done | LC_ALL=C sort
}

# Apply the worked example's migrations, in order, to database $1.
apply_example_migrations() {
	local db=$1 file n=0
	while IFS= read -r file; do
		note "$(basename "$file")"
		run_psql -d "$db" -f "$file" >/dev/null || return 1
		n=$((n + 1))
	done < <(example_migrations)
	[ "$n" -gt 0 ] || { warn "no example/migrations/*.up.sql"; return 1; }
}
