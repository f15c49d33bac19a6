# A bounded soak test of the scheduler, refresh_all() and the refresh
# workers under faults (issue 12, "Proof"):
#
#   random writes on the sources; several views due every 1-2 s; random
#   pg_cancel_backend() and pg_terminate_backend() of refresh workers, of
#   schedulers and of sessions waiting in refresh_all(); DROP and CREATE
#   (and register) of views.
#
# Afterwards: no "running" run without a process, no leaked worker slot,
# scheduling still works, no view called fresh that differs from its query,
# and the server log holds no error but the expected kinds (cancels,
# terminations, and the SQLSTATEs of views dropped under a refresh).
#
# It runs REPORTING_SOAK_SECONDS (default 60; scripts/test runs that), or
# REPORTING_SOAK_MINUTES minutes for a long run; REPORTING_SOAK_SEED picks the
# random sequence (default 1).  The counts of what was done are printed.
# Every wait for a state is a bounded poll; the workload itself is paced.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $seconds =
  $ENV{REPORTING_SOAK_MINUTES} ? 60 * $ENV{REPORTING_SOAK_MINUTES}
  : ($ENV{REPORTING_SOAK_SECONDS} // 60);
my $seed = $ENV{REPORTING_SOAK_SEED} // 1;
srand($seed);
my $bound = 180;

sub poll_until
{
	my ($n, $db, $query, $expected) = @_;
	local $PostgreSQL::Test::Utils::timeout_default = $bound;
	return $n->poll_query_until($db, $query, $expected);
}

my $node = PostgreSQL::Test::Cluster->new('soak');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'reporting'
max_worker_processes = 12
reporting.max_workers = 3
log_line_prefix = '%m [%p] %e %q%a '
log_statement = 'none'
log_error_verbosity = verbose
});
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION reporting;
CREATE ROLE app LOGIN;
GRANT CREATE ON SCHEMA public TO app;
GRANT EXECUTE ON FUNCTION
    reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text),
    reporting.unregister(regclass),
    reporting.refresh_all()
  TO app;
SET ROLE app;
CREATE TABLE facts (id bigserial PRIMARY KEY, g int NOT NULL, v int NOT NULL);
INSERT INTO facts (g, v) SELECT i % 10, i FROM generate_series(1, 1000) i;
});

# the views: name => query; all read facts, one slowly, one through another
my %views = (
	by_group => 'SELECT g, sum(v) AS total, count(*) AS n FROM facts GROUP BY g',
	slowish => 'SELECT g, count(*) AS n, pg_sleep(0.2) IS NULL AS slept FROM facts WHERE g < 2 GROUP BY g',
	biggest => 'SELECT g, max(v) AS top FROM facts GROUP BY g',
	on_view => 'SELECT g, total * 2 AS twice FROM by_group',
	evens => 'SELECT g, count(*) AS n FROM facts WHERE v % 2 = 0 GROUP BY g');
my @names = sort keys %views;

sub create_view
{
	my ($name) = @_;
	my $every = (rand() < 0.5) ? '1 second' : '2 seconds';
	my $when = (rand() < 0.5) ? 'always' : 'changed';
	$node->safe_psql(
		'postgres', qq{
SET ROLE app;
CREATE MATERIALIZED VIEW $name AS $views{$name};
CREATE UNIQUE INDEX ON $name (g);
SELECT reporting.register('$name', every => '$every', refresh_when => '$when');
});
}
create_view($_) for ('by_group', grep { $_ ne 'by_group' } @names);

my %count = map { $_ => 0 } qw(writes refresh_all cancel_worker terminate_worker
  cancel_scheduler terminate_scheduler cancel_caller terminate_caller recreate);
my %dropped;
my @callers;

# one random process of a kind, or nothing
sub random_pid
{
	my ($where) = @_;
	my @pids = split /\n/,
	  $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE $where");
	return @pids ? $pids[ int(rand(@pids)) ] : undef;
}

sub signal
{
	my ($what, $where, $key) = @_;
	my $pid = random_pid($where);
	return unless defined $pid;
	$node->safe_psql('postgres', "SELECT $what($pid)");
	$count{$key}++;
}

my $workers = "backend_type = 'reporting refresh worker'";
my $schedulers = "backend_type = 'reporting scheduler'";
my $waiting_callers = "application_name = 'soak_caller' AND state = 'active'";

my $deadline = time() + $seconds;
while (time() < $deadline)
{
	my $r = rand();
	if ($r < 0.40)
	{
		my $g = int(rand(10));
		$node->safe_psql(
			'postgres', qq{
INSERT INTO facts (g, v) SELECT $g, (random() * 1000)::int FROM generate_series(1, 5);
UPDATE facts SET v = v + 1 WHERE id = (SELECT max(id) - 3 FROM facts);
DELETE FROM facts WHERE id = (SELECT min(id) FROM facts);
});
		$count{writes}++;
	}
	elsif ($r < 0.55)
	{
		my ($in, $out, $err) = ('', '', '');
		push @callers,
		  IPC::Run::start(
			[
				'psql', '-XAtq', '-d',
				$node->connstr('postgres') . ' user=app application_name=soak_caller',
				'-c', 'SELECT count(*) FROM reporting.refresh_all()'
			],
			'<', \$in, '>', \$out, '2>', \$err);
		$count{refresh_all}++;
	}
	elsif ($r < 0.65) { signal('pg_cancel_backend', $workers, 'cancel_worker'); }
	elsif ($r < 0.75) { signal('pg_terminate_backend', $workers, 'terminate_worker'); }
	elsif ($r < 0.78) { signal('pg_cancel_backend', $schedulers, 'cancel_scheduler'); }
	elsif ($r < 0.80) { signal('pg_terminate_backend', $schedulers, 'terminate_scheduler'); }
	elsif ($r < 0.85) { signal('pg_cancel_backend', $waiting_callers, 'cancel_caller'); }
	elsif ($r < 0.90) { signal('pg_terminate_backend', $waiting_callers, 'terminate_caller'); }
	else
	{
		# DROP a view nothing else reads, then CREATE and register it again
		my $name = (grep { $_ ne 'by_group' } @names)[ int(rand(@names - 1)) ];
		$node->safe_psql('postgres', "SET ROLE app; DROP MATERIALIZED VIEW $name");
		create_view($name);
		$count{recreate}++;
	}
	# pace the workload (not a wait for a state)
	usleep(50_000);
	@callers = grep { !$_->pumpable || ($_->pump_nb, 1) && $_->pumpable } @callers;
}
$_->finish for @callers;
note(join(', ', map { "$_ $count{$_}" } sort keys %count));
ok($count{writes} > 0 && $count{refresh_all} > 0, 'the soak did its work');

# afterwards: every refresh ends, and nothing is left behind
ok( poll_until(
		$node, 'postgres', qq{
SELECT NOT EXISTS (SELECT 1 FROM reporting.runs r
                    WHERE r.status = 'running'
                      AND NOT EXISTS (SELECT 1 FROM reporting.running x WHERE x.view = r.view))}),
	'no "running" run without a process');
ok( poll_until(
		$node, 'postgres', q{
SELECT NOT EXISTS (SELECT 1 FROM reporting.worker_slots
                    WHERE state <> 'free' AND NOT requester_alive AND NOT worker_alive)}),
	'no leaked worker slot');

# a change, so that views refreshed only when their sources changed are due
my $since = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
$node->safe_psql('postgres', 'INSERT INTO facts (g, v) VALUES (1, 1)');
for my $name (@names)
{
	ok( poll_until(
			$node, 'postgres',
			"SELECT count(*) > 0 FROM reporting.runs WHERE view = '$name'::regclass"
			  . " AND origin = 'schedule' AND status = 'refreshed' AND started_at > '$since'"),
		"$name: still refreshed on schedule");
}

# nothing writes now: a view called fresh must equal its query
for my $name (@names)
{
	my $differs = $node->safe_psql(
		'postgres', qq{
SELECT s.fresh AND EXISTS (
         (TABLE $name EXCEPT ALL ($views{$name}))
         UNION ALL
         (($views{$name}) EXCEPT ALL TABLE $name))
  FROM reporting.status s WHERE s.view = '$name'::regclass});
	is($differs, 'f', "$name: not called fresh unless it equals its query");
}

# the server log: only expected kinds of errors
my %expected = (
	'57014' => 'canceled',
	'57P01' => 'terminated by an administrator',
	'42P01' => 'a view dropped under its refresh',
	'42704' => 'a view unregistered under its refresh',
	'55P03' => 'a lock timeout');
my (%seen, @unexpected);
for my $line (split /\n/, slurp_file($node->logfile))
{
	next unless $line =~ /\] (\w{5}) .*?(ERROR|FATAL|PANIC):/;
	my ($state, $level) = ($1, $2);
	$seen{$state}++;
	push @unexpected, $line if $level eq 'PANIC' || !exists $expected{$state};
}
push @unexpected, grep { /terminated by signal|was terminated by exception/ }
  split /\n/, slurp_file($node->logfile);
note('errors in the log by SQLSTATE: '
	  . join(', ', map { "$_ $seen{$_}" } sort keys %seen));
is(scalar(@unexpected), 0, 'no unexpected error in the server log')
  or diag(join("\n", @unexpected[ 0 .. ($#unexpected < 9 ? $#unexpected : 9) ]));

$node->stop;
done_testing();
