# shellcheck shell=bash
# Shared by scripts/demo, scripts/test and bench/*: install what is missing,
# build and install the extension, and run a throwaway PostgreSQL 15 cluster.
#
# Works as root (the server then runs as the unprivileged "postgres" OS user,
# since PostgreSQL refuses to run as root) and as a normal user with sudo.

PG_BIN=/usr/lib/postgresql/15/bin
PG_CONFIG=$PG_BIN/pg_config
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PG_BIN:$PATH"

say() { printf '\n==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, else through sudo.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Run a command as the OS user that owns the throwaway cluster.
as_server_user() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Install the Debian packages the build and the suites need, only if missing.
ensure_packages() {
	local wanted=(postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
		libtap-parser-sourcehandler-pgtap-perl libipc-run-perl make gcc)
	local missing=() pkg
	for pkg in "${wanted[@]}"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
			|| missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	id postgres >/dev/null 2>&1 || die "the postgres OS user is missing after installing postgresql-15"
}

# Build with warnings as errors, then install into PostgreSQL 15.
build_install() {
	say "building (warnings are errors)"
	make -s -C "$REPO_ROOT" PG_CONFIG="$PG_CONFIG" COPT=-Werror >/dev/null
	say "installing the extension"
	as_root make -s -C "$REPO_ROOT" PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# A port nobody listens on (the sockets live in our own directory, so this
# only avoids confusing anyone who looks at the process list).
free_port() {
	local port
	for port in $(seq 55432 55631); do
		if ! ss -Hltnx 2>/dev/null | grep -q "[.:]$port\b"; then
			echo "$port"
			return 0
		fi
	done
	echo 55432
}

# start_cluster NAME [keep]: initdb and start a throwaway cluster with the
# library preloaded; exports PGHOST, PGPORT, PGUSER, PGDATABASE and
# CLUSTER_DIR.  Unless "keep" is given it is stopped and removed on exit.
start_cluster() {
	local name=$1 keep=${2:-}
	CLUSTER_DIR=$(mktemp -d "/tmp/reporting-$name.XXXXXX")
	chmod 755 "$CLUSTER_DIR"
	[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$CLUSTER_DIR"
	local port
	port=$(free_port)
	say "starting a throwaway PostgreSQL 15 cluster in $CLUSTER_DIR (port $port)"
	as_server_user "$PG_BIN/initdb" -D "$CLUSTER_DIR/data" -A trust -U postgres \
		--no-sync -E UTF8 --locale=C.UTF-8 >"$CLUSTER_DIR/initdb.log" 2>&1 \
		|| { cat "$CLUSTER_DIR/initdb.log"; die "initdb failed"; }
	as_server_user tee -a "$CLUSTER_DIR/data/postgresql.conf" >/dev/null <<CONF
# added by scripts/common.sh
port = $port
listen_addresses = ''
unix_socket_directories = '$CLUSTER_DIR'
shared_preload_libraries = '${REPORTING_PRELOAD-reporting}'
max_prepared_transactions = 10
fsync = ${REPORTING_FSYNC:-off}
synchronous_commit = ${REPORTING_SYNCHRONOUS_COMMIT:-on}
shared_buffers = ${REPORTING_SHARED_BUFFERS:-512MB}
work_mem = 64MB
maintenance_work_mem = 256MB
max_wal_size = 4GB
log_min_messages = warning
CONF
	export PGHOST=$CLUSTER_DIR PGPORT=$port PGUSER=postgres PGDATABASE=postgres
	if [ "$keep" != keep ]; then
		trap stop_cluster EXIT
	fi
	as_server_user "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" \
		-w -t 60 start >/dev/null \
		|| { tail -30 "$CLUSTER_DIR/server.log"; die "the server did not start"; }
}

# Stop and remove the cluster; on failure show the end of its log.
stop_cluster() {
	local status=$?
	[ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR" ] || return 0
	if [ $status -ne 0 ] && [ -f "$CLUSTER_DIR/server.log" ]; then
		echo "--- last lines of the server log ($CLUSTER_DIR/server.log) ---"
		tail -30 "$CLUSTER_DIR/server.log"
	fi
	as_server_user "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$CLUSTER_DIR"
	CLUSTER_DIR=
	return $status
}

# psql that stops at the first error and reads no ~/.psqlrc
run_psql() {
	psql -X -v ON_ERROR_STOP=1 -q "$@"
}

# Apply the worked example's migrations, in order, to database $1.
apply_example_migrations() {
	local db=$1 file
	for file in "$REPO_ROOT"/example/migrations/*.up.sql; do
		run_psql -d "$db" -f "$file" >/dev/null || return 1
	done
}
