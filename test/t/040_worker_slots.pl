# Refresh-worker slots are given back however their requester ends
# (issue 12, fault 2):
#  1. sessions waiting in refresh_all() are terminated with
#     pg_terminate_backend(), more times than there are slots, while their
#     worker refreshes a slow view: each time, the worker is stopped (its run
#     is recorded as interrupted) and its slot is freed;
#  2. afterwards no slot is leaked (reporting.worker_slots), the scheduler
#     still refreshes a view due every second, and refresh_all() still hands
#     its refreshes to workers (no "in this session" fallback).
# On 0.4.0 each terminated session left its slot taken until restart, and
# after reporting.max_workers kills nothing was scheduled any more.
#
# Every wait is a bounded poll for a state; there is no bare sleep.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# the longest any single state may take to appear, in seconds
my $bound = 60;

sub poll_until
{
	my ($n, $db, $query, $expected) = @_;
	local $PostgreSQL::Test::Utils::timeout_default = $bound;
	return $n->poll_query_until($db, $query, $expected);
}

my $slots = 6;
my $node = PostgreSQL::Test::Cluster->new('slots');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'reporting'
max_worker_processes = $slots
reporting.max_workers = 2
# the views here are owned by the bootstrap superuser
reporting.enable_superuser_refresh = on
});
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION reporting;
CREATE TABLE ticks (id int PRIMARY KEY);
INSERT INTO ticks VALUES (1);
CREATE MATERIALIZED VIEW tick_count AS SELECT count(*) AS n FROM ticks;
SELECT reporting.register('tick_count', every => '1 second', refresh_when => 'always');
-- a refresh that takes as long as delay says
CREATE TABLE delay (s float8);
INSERT INTO delay VALUES (300);
CREATE MATERIALIZED VIEW slow AS SELECT pg_sleep(s) IS NULL AS slept FROM delay WITH NO DATA;
SELECT reporting.register('slow', refresh_when => 'always', statement_timeout => '10 minutes');
});

my $slow_worker = q{
SELECT count(*) FROM pg_stat_activity
 WHERE backend_type = 'reporting refresh worker'
   AND query LIKE 'reporting: refreshing %slow'};

# more kills than there are slots
my $kills = $slots + 2;
for my $i (1 .. $kills)
{
	my ($in, $out, $err) = ('', '', '');
	my $caller = IPC::Run::start(
		[
			'psql', '-XAtq', '-d',
			$node->connstr('postgres') . " application_name=caller$i",
			'-c', 'SELECT view, status FROM reporting.refresh_all()'
		],
		'<', \$in, '>', \$out, '2>', \$err);
	ok(poll_until($node, 'postgres', "$slow_worker", '1'),
		"kill $i: a worker refreshes the slow view for refresh_all()");
	$node->safe_psql('postgres',
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'caller$i'"
	);
	$caller->finish;
	ok( poll_until(
			$node, 'postgres',
			"SELECT ($slow_worker) = 0 AND NOT EXISTS (SELECT 1 FROM reporting.worker_slots"
			  . " WHERE view = 'slow'::regclass AND state <> 'free')"),
		"kill $i: the terminated caller's worker stopped and its slot is free");
}

is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM reporting.runs WHERE view = 'slow'::regclass AND origin = 'refresh_all' AND status = 'interrupted'"
	),
	$kills,
	'each stopped refresh is recorded as interrupted');

is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM reporting.worker_slots WHERE state <> 'free' AND NOT requester_alive AND NOT worker_alive"
	),
	'0',
	'no slot is held by processes that are gone');

my $since = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) >= 2 FROM reporting.runs WHERE view = 'tick_count'::regclass"
		  . " AND origin = 'schedule' AND status = 'refreshed' AND started_at > '$since'"),
	'the scheduler still refreshes a view due every second');

$node->safe_psql('postgres', 'UPDATE delay SET s = 0');
my ($stdout, $stderr);
$node->psql(
	'postgres',
	"SELECT view, status FROM reporting.refresh_all() ORDER BY view::text COLLATE \"C\"",
	stdout => \$stdout,
	stderr => \$stderr);
is($stdout, "slow|refreshed\ntick_count|refreshed", 'refresh_all() refreshes every view');
unlike($stderr, qr/in this session/, 'refresh_all() still hands its refreshes to workers');
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM reporting.worker_slots WHERE state <> 'free' AND origin = 'refresh_all'"),
	'0',
	'refresh_all() gave its slots back');

$node->safe_psql('postgres', 'CREATE ROLE someone LOGIN');
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM reporting.worker_slots',
	extra_params => [ '-U', 'someone' ]);
like($err, qr/permission denied/, 'only superusers may read the slot table');

$node->stop;
done_testing();
