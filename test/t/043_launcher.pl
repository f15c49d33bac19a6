# The launcher and what it says (issue 12, fault 12):
#  1. CREATE EXTENSION warns when background workers may run short for a
#     scheduler in this database (the launcher, one scheduler per database
#     and reporting.max_workers refresh workers against
#     max_worker_processes), and not before;
#  2. a scheduler stopped by CREATE DATABASE ... TEMPLATE or DROP DATABASE
#     exits normally: no "exited with exit code 1" line, read as a crash by
#     log alerting; the launcher starts it again after the copy;
#  3. with no background worker free, "could not start a refresh worker" is
#     logged at most once a minute per scheduler, not every second per due
#     view.
#
# Every wait is a bounded poll for a state; there is no bare sleep.
use strict;
use warnings;

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

sub scheduler_in
{
	my ($db) = @_;
	return "SELECT count(*) = 1 FROM pg_stat_activity"
	  . " WHERE backend_type = 'reporting scheduler' AND datname = '$db'";
}

my $node = PostgreSQL::Test::Cluster->new('launcher');
$node->init;
# the launcher, two schedulers and reporting.max_workers = 3 refresh workers
# do not fit in 5 (nor does the logical replication launcher)
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'reporting'
max_worker_processes = 5
reporting.max_workers = 3
reporting.enable_superuser_refresh = on
});
$node->start;

for my $db ('d1', 'd2', 'd3')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
}

# 1. the warning, when and only when workers may run short
my ($ret, $out, $err) = $node->psql('d1', 'CREATE EXTENSION reporting');
unlike($err, qr/WARNING/, 'd1: no warning while workers suffice');
ok(poll_until($node, 'postgres', scheduler_in('d1')), 'd1: its scheduler runs');
($ret, $out, $err) = $node->psql('d2', 'CREATE EXTENSION reporting');
like(
	$err,
	qr/WARNING:  refreshes may not be scheduled in database "d2"/,
	'd2: CREATE EXTENSION warns that background workers may run short');
like($err, qr/max_worker_processes is 5/, 'd2: the warning gives the figures');

# 2. normal exits of schedulers stopped by CREATE DATABASE and DROP DATABASE
ok(poll_until($node, 'postgres', scheduler_in('d2')), 'd2: its scheduler runs');
$node->safe_psql('postgres', 'CREATE DATABASE d1_copy TEMPLATE d1');
$node->safe_psql('postgres', 'DROP DATABASE d2');
ok(poll_until($node, 'postgres', scheduler_in('d1')),
	'd1: its scheduler runs again after the copy');
ok(poll_until($node, 'postgres', scheduler_in('d1_copy')),
	'the copy gets a scheduler');
unlike(
	slurp_file($node->logfile),
	qr/"reporting scheduler[^"]*" \(PID \d+\) exited with exit code 1/,
	'no scheduler exit is logged as a failure');

# 3. no background worker for refreshes: said at most once a minute
$node->safe_psql(
	'd1', q{
CREATE TABLE ticks (id int);
CREATE MATERIALIZED VIEW tick_count AS SELECT count(*) AS n FROM ticks;
SELECT reporting.register('tick_count', every => '1 second', refresh_when => 'always');
CREATE MATERIALIZED VIEW tick_max AS SELECT max(id) AS m FROM ticks;
SELECT reporting.register('tick_max', every => '1 second', refresh_when => 'always');
});
{
	local $PostgreSQL::Test::Utils::timeout_default = $bound;
	ok($node->wait_for_log(qr/LOG:  reporting: could not start a refresh worker/),
		'no free background worker is said');
}
my $t0 = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
ok( poll_until(
		$node, 'postgres', "SELECT clock_timestamp() > '$t0'::timestamptz + interval '6 seconds'"),
	'six more seconds of due views without a worker');
my @lines = (slurp_file($node->logfile) =~ /LOG:  reporting: could not start a refresh worker/g);
cmp_ok(scalar(@lines), '<=', 2,
	'"could not start a refresh worker" is not repeated every second');

$node->stop;
done_testing();
