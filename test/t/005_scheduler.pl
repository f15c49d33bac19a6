# The scheduler at the level of the cluster: it runs without anyone calling
# refresh; it resumes after a restart and after a crash (a refresh worker
# killed with SIGKILL), marking the refresh that was running as interrupted;
# reporting.enabled pauses it; a second database is picked up; DROP
# EXTENSION and DROP DATABASE are not held up by its workers; a standby
# schedules nothing, and scheduling starts when it is promoted.
#
# Every wait is a bounded poll for a state.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'reporting'
max_worker_processes = 16
restart_after_crash = on
});
$node->start;

# a view refreshed every second whatever happens, and a slow one
$node->safe_psql('postgres', q{
CREATE EXTENSION reporting;
CREATE TABLE ticks (id int PRIMARY KEY);
INSERT INTO ticks VALUES (1);
CREATE MATERIALIZED VIEW tick_count AS SELECT count(*) AS n FROM ticks;
SELECT reporting.register('tick_count', every => '1 second', refresh_when => 'always');
});

# scheduled refreshes that started after the given moment
sub scheduled_since
{
	my ($n, $db, $since) = @_;
	return $n->safe_psql($db, qq{
SELECT count(*) FROM reporting.runs
 WHERE view = 'tick_count'::regclass AND origin = 'schedule' AND status = 'refreshed'
   AND started_at > '$since'::timestamptz});
}

sub wait_scheduled
{
	my ($n, $db, $since, $what) = @_;
	ok($n->poll_query_until($db, qq{
SELECT count(*) >= 2 FROM reporting.runs
 WHERE view = 'tick_count'::regclass AND origin = 'schedule' AND status = 'refreshed'
   AND started_at > '$since'::timestamptz}), $what);
}

my $start = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
wait_scheduled($node, 'postgres', $start, 'refreshed on schedule with nobody calling refresh');
is($node->safe_psql('postgres', q{
SELECT string_agg(backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity
 WHERE backend_type IN ('reporting launcher', 'reporting scheduler')}),
	'reporting launcher,reporting scheduler', 'one launcher, one scheduler');

# 1. a restart
$node->restart;
my $after_restart = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
wait_scheduled($node, 'postgres', $after_restart, 'scheduling resumes after a restart');

# 2. a crash: SIGKILL a refresh worker in the middle of a slow refresh
$node->safe_psql('postgres', q{
CREATE MATERIALIZED VIEW slow AS SELECT pg_sleep(60) IS NULL AS slept WITH NO DATA;
SELECT reporting.register('slow', every => '1 second', refresh_when => 'always');
});
ok($node->poll_query_until('postgres', q{
SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                WHERE backend_type = 'reporting refresh worker' AND query LIKE '%refreshing%slow%')}),
	'a refresh worker is refreshing the slow view');
my $worker = $node->safe_psql('postgres', q{
SELECT pid FROM pg_stat_activity
 WHERE backend_type = 'reporting refresh worker' AND query LIKE '%refreshing%slow%' LIMIT 1});
kill 'KILL', $worker;
ok($node->poll_query_until('postgres', q{
SELECT EXISTS (SELECT 1 FROM reporting.runs WHERE view = 'slow'::regclass AND status = 'interrupted')}),
	'after the crash the refresh that was running is marked interrupted');
# the slow view is retried with a backoff; take it out of the way
$node->safe_psql('postgres', q{SELECT reporting.unregister('slow')});
$node->safe_psql('postgres', q{
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE backend_type = 'reporting refresh worker' AND query LIKE '%slow%'});
my $after_crash = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
wait_scheduled($node, 'postgres', $after_crash, 'scheduling resumes after a crash');
is($node->safe_psql('postgres', q{SELECT count(*) FROM reporting.runs WHERE status = 'running'
                                      AND view = 'tick_count'::regclass AND started_at < now() - interval '30 seconds'}),
	'0', 'no run is left running');

# 3. reporting.enabled = off pauses scheduling
$node->safe_psql('postgres', q{ALTER SYSTEM SET reporting.enabled = off; SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres', q{SHOW reporting.enabled}, 'off'), 'the setting took effect');
# a refresh dispatched just before the reload may still finish
my $paused = $node->safe_psql('postgres', 'SELECT clock_timestamp() + interval \'1 second\'');
$node->poll_query_until('postgres', qq{SELECT clock_timestamp() > '$paused'::timestamptz + interval '3 seconds'})
  or die 'time stood still';
is(scheduled_since($node, 'postgres', $paused), '0', 'nothing is scheduled while paused');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET reporting.enabled; SELECT pg_reload_conf()});
my $resumed = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
wait_scheduled($node, 'postgres', $resumed, 'scheduling resumes when enabled again');

# 4. a database where the extension is created later is picked up
$node->safe_psql('postgres', 'CREATE DATABASE second');
$node->safe_psql('second', q{
CREATE EXTENSION reporting;
CREATE TABLE ticks (id int PRIMARY KEY);
CREATE MATERIALIZED VIEW tick_count AS SELECT count(*) AS n FROM ticks;
SELECT reporting.register('tick_count', every => '1 second', refresh_when => 'always');
});
wait_scheduled($node, 'second', '-infinity', 'a second database is scheduled');

# 5. DROP EXTENSION and DROP DATABASE are not held up
my ($ret, $out, $err) = $node->psql('second', 'DROP EXTENSION reporting CASCADE', timeout => 60);
is($ret, 0, 'DROP EXTENSION completes while its views are scheduled');
ok($node->poll_query_until('postgres', q{
SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity
                    WHERE backend_type LIKE 'reporting%' AND datname = 'second')}),
	'the scheduler of that database stops');
$node->safe_psql('postgres', 'CREATE DATABASE third');
$node->safe_psql('third', q{
CREATE EXTENSION reporting;
CREATE TABLE ticks (id int PRIMARY KEY);
CREATE MATERIALIZED VIEW tick_count AS SELECT count(*) AS n FROM ticks;
SELECT reporting.register('tick_count', every => '1 second', refresh_when => 'always');
});
wait_scheduled($node, 'third', '-infinity', 'a third database is scheduled');
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE third', timeout => 60);
is($ret, 0, 'DROP DATABASE succeeds while its views are being refreshed');
unlike($err, qr/being accessed by other users/, 'no "being accessed by other users"');
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE second', timeout => 60);
is($ret, 0, 'DROP DATABASE of a database whose extension was dropped');

# 6. a standby schedules nothing; promoted, it does
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{
SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'reporting%'}),
	'0', 'nothing of the scheduler runs on a standby');
$node->stop;
$standby->promote;
my $promoted = $standby->safe_psql('postgres', 'SELECT clock_timestamp()');
wait_scheduled($standby, 'postgres', $promoted, 'after promotion the former standby schedules');

$standby->stop;
done_testing();
