# The refresh paths under contention (issue 12, faults 7 and 14):
#  1. refresh_all() never refreshes in the caller's session because
#     reporting.max_workers slots are busy elsewhere: it waits for a slot,
#     so it neither runs more refreshes than reporting.max_workers nor
#     leaves a lock in the caller's session that a later worker refreshing a
#     view built on it would wait for;
#  2. unregister() of a view whose refresh is in progress, then DROP of the
#     view, in one transaction: it waits for the refresh instead of
#     deadlocking with it;
#  3. reporting.max_workers = 0 is said in the server log;
#  4. on a hot standby, refresh() and refresh_all() fail with "cannot
#     refresh during recovery" (55000) and a hint;
#  5. a never-populated view registered with mode => 'concurrently' is
#     refreshed by the scheduler: plainly the first time, concurrently after
#     (issue 12, fault 9: it failed for ever).
#
# Every wait is a bounded poll for a state; there is no bare sleep.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $bound = 60;

sub poll_until
{
	my ($n, $db, $query, $expected) = @_;
	local $PostgreSQL::Test::Utils::timeout_default = $bound;
	return $n->poll_query_until($db, $query, $expected);
}

my $node = PostgreSQL::Test::Cluster->new('paths');
$node->init(allows_streaming => 1);
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'reporting'
max_worker_processes = 8
reporting.max_workers = 1
});
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION reporting;
CREATE ROLE other LOGIN;
CREATE ROLE mine LOGIN;
GRANT CREATE ON SCHEMA public TO other, mine;
GRANT EXECUTE ON FUNCTION
    reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text),
    reporting.unregister(regclass),
    reporting.refresh_all()
  TO other, mine;
SET ROLE other;
CREATE TABLE delay (s float8);
INSERT INTO delay VALUES (4);
CREATE MATERIALIZED VIEW slow AS SELECT pg_sleep(s) IS NULL AS slept FROM delay;
SELECT reporting.register('slow', refresh_when => 'always', lock_timeout => '1 minute');
SET ROLE mine;
CREATE TABLE facts (n int);
INSERT INTO facts VALUES (1), (2);
CREATE MATERIALIZED VIEW up AS SELECT sum(n) AS total FROM facts;
CREATE MATERIALIZED VIEW down AS SELECT total * 2 AS twice FROM up;
SELECT reporting.register('up', refresh_when => 'always');
SELECT reporting.register('down', refresh_when => 'always');
});

my $slow_worker = q{
SELECT count(*) FROM pg_stat_activity
 WHERE backend_type = 'reporting refresh worker'
   AND query LIKE 'reporting: refreshing %slow'};

# another role's refresh_all() in the background: its worker holds the one slot
sub start_other_refresh_all
{
	my ($out) = @_;
	my ($in, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-XAtq', '-d', $node->connstr('postgres') . ' user=other',
			'-c', 'SELECT view, status, error FROM reporting.refresh_all()'
		],
		'<', \$in, '>', $out, '2>', \$err);
	ok(poll_until($node, 'postgres', $slow_worker, '1'),
		'a worker refreshes the slow view for another role');
	return $h;
}

# 1. refresh_all() while reporting.max_workers slots are busy elsewhere
my $other_out = '';
my $other = start_other_refresh_all(\$other_out);
my ($stdout, $stderr);
$node->psql(
	'postgres',
	"SELECT view, status, error FROM reporting.refresh_all() ORDER BY view::text COLLATE \"C\"",
	stdout => \$stdout,
	stderr => \$stderr,
	extra_params => [ '-U', 'mine' ]);
is($stdout, "down|refreshed|\nup|refreshed|",
	'refresh_all() refreshes a view and the view built on it while the only slot is busy');
unlike($stderr, qr/in this session/,
	'refresh_all() waited for a slot instead of refreshing in the session');
$other->finish;
is($other_out, "slow|refreshed|\n", "the other role's refresh_all() was not disturbed");

# 2. unregister() and DROP of a view being refreshed
$other_out = '';
$other = start_other_refresh_all(\$other_out);
my ($ret, $out, $err) = $node->psql(
	'postgres', q{
BEGIN;
SELECT reporting.unregister('slow');
DROP MATERIALIZED VIEW slow;
COMMIT;
},
	extra_params => [ '-U', 'other' ]);
is($ret, 0, 'unregister() and DROP of a view being refreshed succeed');
like($err, qr/waiting for another refresh of materialized view "public.slow"/,
	'unregister() says it waits for the refresh in progress');
$other->finish;
# the view may be gone by the time its name is printed
like($other_out, qr/^(slow|\d+)\|refreshed\|$/, 'the refresh in progress finished');
unlike(slurp_file($node->logfile), qr/deadlock detected/, 'no deadlock');

# 3. reporting.max_workers = 0 is said
$node->safe_psql('postgres',
	'ALTER SYSTEM SET reporting.max_workers = 0; SELECT pg_reload_conf()');
{
	local $PostgreSQL::Test::Utils::timeout_default = $bound;
	ok( $node->wait_for_log(
			qr/LOG:  reporting: reporting\.max_workers is 0, so no registered view is refreshed on schedule/),
		'reporting.max_workers = 0 is said in the server log');
}
$node->safe_psql('postgres',
	'ALTER SYSTEM RESET reporting.max_workers; SELECT pg_reload_conf()');

# 5. explicit CONCURRENTLY on a never-populated view, in refresh workers
$node->safe_psql(
	'postgres', q{
SET ROLE mine;
CREATE MATERIALIZED VIEW empty_first AS SELECT n FROM facts WITH NO DATA;
CREATE UNIQUE INDEX ON empty_first (n);
SELECT reporting.register('empty_first', every => '1 second', mode => 'concurrently',
                          refresh_when => 'always');
});
for my $mode ('plain', 'concurrently')
{
	ok( poll_until(
			$node, 'postgres',
			"SELECT count(*) > 0 FROM reporting.runs WHERE view = 'empty_first'::regclass"
			  . " AND origin = 'schedule' AND status = 'refreshed' AND mode = '$mode'"),
		"never-populated view registered concurrently: a scheduled $mode refresh");
}
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM reporting.runs WHERE view = 'empty_first'::regclass AND status = 'failed'"),
	'0',
	'never-populated view registered concurrently: no failed run');
is( $node->safe_psql(
		'postgres',
		"SELECT mode FROM reporting.runs WHERE view = 'empty_first'::regclass ORDER BY id LIMIT 1"),
	'plain',
	'its first refresh was the plain one');

# 4. a hot standby refuses refreshes with 55000
$node->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'backup', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
for my $call ("reporting.refresh('up')", 'reporting.refresh_all()')
{
	($ret, $out, $err) = $standby->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT * FROM $call");
	like($err, qr/ERROR:  55000: cannot refresh during recovery/,
		"$call on a standby: cannot refresh during recovery (55000)");
	like($err, qr/HINT:  Refresh on the primary server\./, "$call on a standby: a hint");
}

$standby->stop;
$node->stop;
done_testing();
