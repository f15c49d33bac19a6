# Refresh workers reach the view's owner the same way whatever its LOGIN
# and CONNECT attributes (issue 12, fault 8):
#  1. a LOGIN owner without CONNECT on the database (REVOKE CONNECT ... FROM
#     PUBLIC) and a NOLOGIN owner: their views are refreshed by the scheduler
#     and by refresh_all() in workers, with the owner's settings (TimeZone
#     set with ALTER ROLE ... SET), never the worker's;
#  2. a failing worker refresh is recorded in reporting.runs, with its
#     SQLSTATE, from the scheduler and from refresh_all() alike.
# On 0.4.0 the LOGIN owner without CONNECT failed every worker refresh with
# a FATAL at connection, and refresh_all()'s failure was not recorded.
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

my $node = PostgreSQL::Test::Cluster->new('owner');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'reporting'
max_worker_processes = 8
reporting.max_workers = 2
timezone = 'UTC'
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql(
	'app', q{
CREATE EXTENSION reporting;
REVOKE CONNECT ON DATABASE app FROM PUBLIC;
CREATE ROLE login_owner LOGIN;
CREATE ROLE nologin_owner NOLOGIN;
ALTER ROLE login_owner SET TimeZone = 'Asia/Tokyo';
ALTER ROLE nologin_owner SET TimeZone = 'America/New_York';
CREATE SCHEMA app;
GRANT USAGE, CREATE ON SCHEMA app TO login_owner, nologin_owner;
CREATE TABLE app.flag (fail bool);
INSERT INTO app.flag VALUES (false);
GRANT SELECT ON app.flag TO login_owner, nologin_owner;
SET ROLE login_owner;
CREATE MATERIALIZED VIEW app.by_login AS SELECT current_setting('TimeZone') AS tz;
CREATE MATERIALIZED VIEW app.failing AS
  SELECT 1 / CASE WHEN fail THEN 0 ELSE 1 END AS n FROM app.flag;
RESET ROLE;
SET ROLE nologin_owner;
CREATE MATERIALIZED VIEW app.by_nologin AS SELECT current_setting('TimeZone') AS tz;
RESET ROLE;
});
# registered by a superuser on the owners' behalf
$node->safe_psql(
	'app', q{
SELECT reporting.register('app.by_login', every => '1 second', refresh_when => 'always');
SELECT reporting.register('app.by_nologin', every => '1 second', refresh_when => 'always');
SELECT reporting.register('app.failing', refresh_when => 'always');
});

for my $view ('app.by_login', 'app.by_nologin')
{
	ok( poll_until(
			$node, 'app',
			"SELECT count(*) >= 2 FROM reporting.runs WHERE view = '$view'::regclass"
			  . " AND origin = 'schedule' AND status = 'refreshed'"),
		"$view: refreshed by the scheduler");
}
is( $node->safe_psql(
		'app', q{SELECT count(*) FROM reporting.runs WHERE status = 'failed'}),
	'0',
	'no scheduled refresh failed');
is($node->safe_psql('app', 'SELECT tz FROM app.by_login'),
	'Asia/Tokyo', "the LOGIN owner's refresh ran with its own TimeZone");
is($node->safe_psql('app', 'SELECT tz FROM app.by_nologin'),
	'America/New_York', "the NOLOGIN owner's refresh ran with its own TimeZone");

# refresh_all() in workers, called by a superuser whose session says UTC
my ($stdout, $stderr);
$node->psql(
	'app',
	"SET TimeZone = 'Europe/Berlin'; SELECT view, status FROM reporting.refresh_all() ORDER BY view::text COLLATE \"C\"",
	stdout => \$stdout,
	stderr => \$stderr);
is( $stdout,
	"app.by_login|refreshed\napp.by_nologin|refreshed\napp.failing|refreshed",
	'refresh_all() refreshes the views of both owners');
unlike($stderr, qr/in this session/, 'refresh_all() used refresh workers');
is($node->safe_psql('app', 'SELECT tz FROM app.by_login'),
	'Asia/Tokyo', "refresh_all(): the owner's TimeZone, not the caller's");

# failures are recorded, from refresh_all() and from the scheduler
$node->safe_psql('app', 'UPDATE app.flag SET fail = true');
$node->psql('app', 'SELECT view, status FROM reporting.refresh_all()',
	stdout => \$stdout);
like($stdout, qr/^app.failing\|failed$/m, 'refresh_all() reports the failure');
is( $node->safe_psql(
		'app',
		"SELECT count(*) FROM reporting.runs WHERE view = 'app.failing'::regclass"
		  . " AND origin = 'refresh_all' AND status = 'failed' AND sqlstate = '22012'"),
	'1',
	"refresh_all()'s failed worker refresh is recorded with its SQLSTATE");
$node->safe_psql('app',
	"SELECT reporting.register('app.failing', every => '1 second', refresh_when => 'always')");
ok( poll_until(
		$node, 'app',
		"SELECT count(*) >= 1 FROM reporting.runs WHERE view = 'app.failing'::regclass"
		  . " AND origin = 'schedule' AND status = 'failed' AND sqlstate = '22012'"),
	"a failed scheduled refresh is recorded with its SQLSTATE");

my $log = slurp_file($node->logfile);
unlike($log, qr/FATAL:\s+permission denied for database/,
	'no refresh worker was refused a connection');

$node->stop;
done_testing();
