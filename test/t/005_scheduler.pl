# The scheduler at the level of the cluster:
#  1. with the library preloaded, a launcher and one scheduler per database
#     refresh a registered view on its schedule, with nobody calling refresh;
#  2. scheduling resumes after a restart;
#  3. and after a crash (a refresh worker killed with SIGKILL, so that the
#     postmaster reinitialises): the refresh that was running is marked
#     interrupted;
#  4. reporting.enabled = off pauses scheduling, and on resumes it;
#  5. a database where the extension is created later is picked up;
#  6. DROP EXTENSION and DROP DATABASE are not held up by the scheduler or
#     by a refresh in progress (no "being accessed by other users");
#  7. a standby schedules nothing; promoted, it schedules the views
#     registered on the primary.
#
# Every wait is a bounded poll for a state; there is no bare sleep.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# the longest any single state may take to appear, in seconds
my $bound = 60;

# poll_query_until, bounded by $bound seconds instead of the suite default
sub poll_until
{
	my ($n, $db, $query, $expected) = @_;
	local $PostgreSQL::Test::Utils::timeout_default = $bound;
	return $n->poll_query_until($db, $query, $expected);
}

# scheduled, successful refreshes of tick_count that started after $since
sub scheduled_query
{
	my ($since, $at_least) = @_;
	return qq{
SELECT count(*) >= $at_least FROM reporting.runs
 WHERE view = 'tick_count'::regclass AND origin = 'schedule' AND status = 'refreshed'
   AND started_at > '$since'::timestamptz};
}

sub wait_scheduled
{
	my ($n, $db, $since, $what) = @_;
	ok(poll_until($n, $db, scheduled_query($since, 2)), $what);
}

sub now_on
{
	my ($n, $db) = @_;
	return $n->safe_psql($db // 'postgres', 'SELECT clock_timestamp()');
}

# a view refreshed every second whatever happens
my $tick_count = q{
CREATE TABLE ticks (id int PRIMARY KEY);
INSERT INTO ticks VALUES (1);
CREATE MATERIALIZED VIEW tick_count AS SELECT count(*) AS n FROM ticks;
SELECT reporting.register('tick_count', every => '1 second', refresh_when => 'always');
};
# a view whose refresh takes five minutes, due every second
my $slow = q{
CREATE MATERIALIZED VIEW slow AS SELECT pg_sleep(300) IS NULL AS slept WITH NO DATA;
SELECT reporting.register('slow', every => '1 second', refresh_when => 'always',
                          statement_timeout => '10 minutes');
};
# a refresh worker busy refreshing the slow view of the given database
sub slow_worker_query
{
	my ($db) = @_;
	return qq{
SELECT pid FROM pg_stat_activity
 WHERE backend_type = 'reporting refresh worker' AND datname = '$db'
   AND query LIKE 'reporting: refreshing %slow'};
}

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
# the views here are owned by the test's superuser, which the scheduler
# refreshes only when told to (test/t/006_security.pl checks the default)
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'reporting'
max_worker_processes = 16
restart_after_crash = on
reporting.enable_superuser_refresh = on
});
$node->start;

###############################################################################
# 1. scheduling works
###############################################################################
my $start = now_on($node);
$node->safe_psql('postgres', "CREATE EXTENSION reporting;\n$tick_count");

wait_scheduled($node, 'postgres', $start, 'refreshed on schedule with nobody calling refresh');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM reporting.runs WHERE view = 'tick_count'::regclass AND origin <> 'schedule'}),
	'0', 'every run came from the schedule');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'reporting launcher'}),
	'1', 'one launcher runs');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM pg_stat_activity
 WHERE backend_type = 'reporting scheduler' AND datname = 'postgres'}),
	'1', 'one scheduler runs in the database that has the extension');

###############################################################################
# 2. a restart
###############################################################################
$node->restart;
my $after_restart = now_on($node);
wait_scheduled($node, 'postgres', $after_restart, 'scheduling resumes after a restart');
ok(poll_until($node, 'postgres', q{
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE backend_type = 'reporting scheduler' AND datname = 'postgres'}),
	'the scheduler is back after a restart');

###############################################################################
# 3. a crash: SIGKILL a refresh worker in the middle of a slow refresh
###############################################################################
$node->safe_psql('postgres', $slow);
ok(poll_until($node, 'postgres', 'SELECT count(*) = 1 FROM (' . slow_worker_query('postgres') . ') w'),
	'a refresh worker is refreshing the slow view');
my $victim = $node->safe_psql('postgres', slow_worker_query('postgres'));
my $slow_run = $node->safe_psql('postgres', q{
SELECT id FROM reporting.runs WHERE view = 'slow'::regclass AND status = 'running'});
like($slow_run, qr/^\d+$/, 'its run is recorded as running');
my $launcher_before = $node->safe_psql('postgres', q{
SELECT pid FROM pg_stat_activity WHERE backend_type = 'reporting launcher'});
my $before_crash = now_on($node);

my $log_offset = -s $node->logfile;
kill 'KILL', $victim;
ok(eval { $node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset); 1 },
	'killing the refresh worker made the postmaster reinitialise');
ok(poll_until($node, 'postgres', 'SELECT 1', '1'), 'the server accepts connections again');

ok(poll_until($node, 'postgres', qq{SELECT status FROM reporting.runs WHERE id = $slow_run}, 'interrupted'),
	'the run that was running when the server crashed is marked interrupted');
like($node->safe_psql('postgres', qq{SELECT error FROM reporting.runs WHERE id = $slow_run}),
	qr/interrupted/, 'with an error that says so');
is($node->safe_psql('postgres', qq{
SELECT count(*) FROM reporting.runs WHERE status = 'running' AND started_at < '$before_crash'::timestamptz}),
	'0', 'no run from before the crash is left running');
# the slow view is retried after a backoff; take it out of the way
$node->safe_psql('postgres', q{SELECT reporting.unregister('slow')});
$node->safe_psql('postgres', 'SELECT pg_terminate_backend(pid) FROM (' . slow_worker_query('postgres') . ') w');

my $after_crash = now_on($node);
wait_scheduled($node, 'postgres', $after_crash, 'scheduling resumes after a crash');
isnt($node->safe_psql('postgres', q{
SELECT pid FROM pg_stat_activity WHERE backend_type = 'reporting launcher'}),
	$launcher_before, 'a new launcher runs after the crash');

###############################################################################
# 4. reporting.enabled = off pauses scheduling
###############################################################################
$node->safe_psql('postgres', q{ALTER SYSTEM SET reporting.enabled = off; SELECT pg_reload_conf()});
ok(poll_until($node, 'postgres', q{SHOW reporting.enabled}, 'off'), 'the setting took effect');
# a refresh dispatched just before the scheduler read the setting may still
# start and finish: allow it a second
my $off_at = now_on($node);
ok(poll_until($node, 'postgres', qq{
SELECT clock_timestamp() > '$off_at'::timestamptz + interval '1 second'
   AND NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'reporting refresh worker')}),
	'no refresh worker runs once paused');
my $paused = now_on($node);
my $last_run = $node->safe_psql('postgres', q{
SELECT coalesce(max(id), 0) FROM reporting.runs WHERE origin = 'schedule'});
ok(poll_until($node, 'postgres',
	qq{SELECT clock_timestamp() > '$paused'::timestamptz + interval '4 seconds'}),
	'four seconds pass while paused');
is($node->safe_psql('postgres', qq{
SELECT count(*) FROM reporting.runs
 WHERE origin = 'schedule' AND (id > $last_run OR started_at > '$paused'::timestamptz)}),
	'0', 'nothing is scheduled while paused');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM pg_stat_activity
 WHERE backend_type = 'reporting scheduler' AND datname = 'postgres'}),
	'1', 'the scheduler itself keeps running while paused');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET reporting.enabled; SELECT pg_reload_conf()});
my $resumed = now_on($node);
wait_scheduled($node, 'postgres', $resumed, 'scheduling resumes when enabled again');

###############################################################################
# 5. a second database, where the extension is created later
###############################################################################
$node->safe_psql('postgres', 'CREATE DATABASE second');
$node->safe_psql('second', "CREATE EXTENSION reporting;\n$tick_count");
wait_scheduled($node, 'second', '-infinity', 'a second database is scheduled');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM pg_stat_activity
 WHERE backend_type = 'reporting scheduler' AND datname = 'second'}),
	'1', 'it has a scheduler of its own');

###############################################################################
# 6. DROP EXTENSION and DROP DATABASE are not held up
###############################################################################
# DROP EXTENSION while a slow refresh is running in that database
$node->safe_psql('second', $slow);
ok(poll_until($node, 'second', 'SELECT count(*) = 1 FROM (' . slow_worker_query('second') . ') w'),
	'a refresh worker is refreshing the slow view of the second database');
my $second_scheduler = $node->safe_psql('postgres', q{
SELECT pid FROM pg_stat_activity WHERE backend_type = 'reporting scheduler' AND datname = 'second'});
$log_offset = -s $node->logfile;
my ($ret, $out, $err, $timed_out);
($ret, $out, $err) = $node->psql('second', 'DROP EXTENSION reporting CASCADE',
	timeout => $bound, timed_out => \$timed_out);
ok(!$timed_out, 'DROP EXTENSION returns while a scheduled refresh was running');
is($ret, 0, 'DROP EXTENSION succeeds') or diag($err);
ok(poll_until($node, 'postgres', q{
SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type LIKE 'reporting%' AND datname = 'second'}),
	'the scheduler and the refresh workers of that database stop');
# it stops because it finds the extension gone, not because it failed
my @failures = grep { /\[$second_scheduler\] ERROR|\(PID $second_scheduler\) exited with exit code 1/ }
  split /\n/, slurp_file($node->logfile, $log_offset);
ok(!@failures, 'the scheduler of that database stops without an error')
  or diag(join("\n", @failures));
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE second',
	timeout => $bound, timed_out => \$timed_out);
ok(!$timed_out && $ret == 0, 'DROP DATABASE of a database whose extension was dropped') or diag($err);

# DROP DATABASE of a database that still has the extension, scheduled views
# and a refresh in progress
$node->safe_psql('postgres', 'CREATE DATABASE third');
$node->safe_psql('third', "CREATE EXTENSION reporting;\n$tick_count\n$slow");
wait_scheduled($node, 'third', '-infinity', 'a third database is scheduled');
ok(poll_until($node, 'third', 'SELECT count(*) = 1 FROM (' . slow_worker_query('third') . ') w'),
	'a refresh worker is refreshing the slow view of the third database');
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE third',
	timeout => $bound, timed_out => \$timed_out);
ok(!$timed_out, 'DROP DATABASE returns');
is($ret, 0, 'DROP DATABASE succeeds while its views are scheduled and one is refreshing')
  or diag($err);
unlike($err // '', qr/being accessed by other users/, 'no "being accessed by other users"');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'third'}),
	'0', 'the database is gone');
ok(poll_until($node, 'postgres', q{
SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type LIKE 'reporting%' AND datname = 'third'}),
	'nothing of the scheduler is left in it');
my $after_drops = now_on($node);
wait_scheduled($node, 'postgres', $after_drops, 'the first database is still scheduled');

###############################################################################
# 7. a standby schedules nothing; promoted, it does
###############################################################################
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
my $standby_started = now_on($node);
$node->wait_for_catchup($standby);
# give the standby time in which a scheduler would have run: until it has
# replayed refreshes the primary scheduled after it started
ok(poll_until($standby, 'postgres', scheduled_query($standby_started, 2)),
	'the standby replays the refreshes scheduled on the primary');
is($standby->safe_psql('postgres', q{SELECT pg_is_in_recovery()}), 't', 'the standby is in recovery');
is($standby->safe_psql('postgres', q{
SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'reporting%'}),
	'0', 'no launcher, scheduler or refresh worker runs on a standby');

$node->stop;
$standby->promote;
my $promoted = now_on($standby);
wait_scheduled($standby, 'postgres', $promoted, 'after promotion the former standby schedules');
is($standby->safe_psql('postgres', q{
SELECT string_agg(backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity
 WHERE backend_type IN ('reporting launcher', 'reporting scheduler')}),
	'reporting launcher,reporting scheduler', 'a launcher and a scheduler run there');

$standby->stop;
done_testing();
