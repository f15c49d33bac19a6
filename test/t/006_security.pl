# Issue 9 at the level of the cluster, with the scheduler running:
#  1. REASSIGN OWNED BY alice TO a superuser (a routine step when someone
#     leaves): the scheduler stops refreshing alice's view, records why,
#     and the trojan function bob put in it never runs as a superuser
#     (0.3.0 refreshed it as the superuser within a second, and bob became
#     one);
#  2. registered again by the superuser, it is still not refreshed while
#     reporting.enable_superuser_refresh is off; a harmless superuser view
#     is refreshed once a superuser turns the setting on, and not after it
#     is turned off again;
#  3. a schema renamed into the place of the extension's is never used by
#     the scheduler (it says so in the server log);
#  4. the extension is not trusted: a database owner who is not a superuser
#     cannot install it.
#
# Every wait is a bounded poll for a state; there is no bare sleep.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# the longest any single state may take to appear, in seconds
my $bound = 60;

sub poll_until
{
	my ($n, $query, $expected) = @_;
	local $PostgreSQL::Test::Utils::timeout_default = $bound;
	return $n->poll_query_until('postgres', $query, $expected);
}

my $node = PostgreSQL::Test::Cluster->new('security');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'reporting'
max_worker_processes = 16
});
$node->start;

my $superuser = $node->safe_psql('postgres', 'SELECT current_user');
is($node->safe_psql('postgres', 'SHOW reporting.enable_superuser_refresh'),
	'off', 'superuser refreshes are off by default');

$node->safe_psql('postgres', q{
CREATE EXTENSION reporting;
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
GRANT CREATE ON SCHEMA public TO alice, bob;
GRANT EXECUTE ON FUNCTION reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text)
  TO alice;
CREATE TABLE audit (who name, superuser bool);
GRANT INSERT ON audit TO PUBLIC;
SET ROLE bob;
CREATE FUNCTION bobs_rate() RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO audit SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER ROLE bob SUPERUSER;
    END IF;
    RETURN 1;
END $$;
RESET ROLE;
SET ROLE alice;
CREATE TABLE orders (id int PRIMARY KEY);
INSERT INTO orders VALUES (1);
CREATE MATERIALIZED VIEW report AS SELECT 1 AS k, count(*) AS n, max(bobs_rate()) AS rate FROM orders;
CREATE UNIQUE INDEX ON report (k);
SELECT reporting.register('report', every => '1 second', refresh_when => 'always');
});

ok( poll_until(
		$node, q{SELECT count(*) >= 1 FROM reporting.runs
		          WHERE origin = 'schedule' AND status = 'refreshed'}),
	'the scheduler refreshes alice\'s view, as alice');

###############################################################################
# 1. REASSIGN OWNED to a superuser
###############################################################################
$node->safe_psql('postgres', "REASSIGN OWNED BY alice TO $superuser");
my $reassigned = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
ok( poll_until(
		$node, qq{SELECT count(*) >= 3 FROM reporting.runs
		           WHERE origin = 'schedule' AND status = 'skipped' AND started_at > '$reassigned'}),
	'after REASSIGN OWNED the scheduler skips the view');
is( $node->safe_psql(
		'postgres', qq{SELECT count(*) FROM reporting.runs
		                WHERE origin = 'schedule' AND status <> 'skipped' AND started_at > '$reassigned'}),
	'0', 'and refreshes it no more');
is( $node->safe_psql(
		'postgres', qq{SELECT DISTINCT error FROM reporting.runs
		                WHERE origin = 'schedule' AND status = 'skipped' AND started_at > '$reassigned'}),
	qq{the owner of the materialized view changed from "alice" to "$superuser" after it was registered},
	'each skip says why');
like(
	$node->safe_psql('postgres', 'SELECT refresh_blocked_hint FROM reporting.status'),
	qr/registered again by its new owner/,
	'status says what to do');
# refresh_all by the superuser skips it too (in workers)
is( $node->safe_psql('postgres', 'SELECT status FROM reporting.refresh_all()'),
	'skipped', 'refresh_all skips it as well');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FILTER (WHERE superuser) || ' ' || (SELECT rolsuper FROM pg_roles WHERE rolname = 'bob') FROM audit}),
	'0 false', 'the trojan never ran as a superuser, and bob is not one');

###############################################################################
# 2. registered again by the superuser: still not while the setting is off
###############################################################################
$node->safe_psql('postgres',
	q{SELECT reporting.register('report', every => '1 second', refresh_when => 'always')});
my $registered = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
ok( poll_until(
		$node, qq{SELECT count(*) >= 3 FROM reporting.runs
		           WHERE origin = 'schedule' AND status = 'skipped' AND started_at > '$registered'
		             AND error LIKE 'the materialized view is owned by superuser%'}),
	'registered again by the superuser, it is skipped as a superuser\'s view');
is( $node->safe_psql(
		'postgres', qq{SELECT count(*) FROM reporting.runs
		                WHERE origin = 'schedule' AND status <> 'skipped' AND started_at > '$registered'}),
	'0', 'and not refreshed');
$node->safe_psql('postgres', q{SELECT reporting.register('report')});
is( $node->safe_psql('postgres',
		q{SELECT count(*) FILTER (WHERE superuser) || ' ' || (SELECT rolsuper FROM pg_roles WHERE rolname = 'bob') FROM audit}),
	'0 false', 'the trojan still never ran as a superuser');

# a harmless view of the superuser's: refreshed only with the setting on
$node->safe_psql('postgres', q{
CREATE MATERIALIZED VIEW admin_tick AS SELECT 1 AS k;
CREATE UNIQUE INDEX ON admin_tick (k);
SELECT reporting.register('admin_tick', every => '1 second', refresh_when => 'always');
ALTER SYSTEM SET reporting.enable_superuser_refresh = on;
SELECT pg_reload_conf();
});
my $enabled = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
ok( poll_until(
		$node, qq{SELECT count(*) >= 2 FROM reporting.runs
		           WHERE view = 'admin_tick'::regclass AND origin = 'schedule' AND status = 'refreshed'
		             AND started_at > '$enabled'}),
	'with reporting.enable_superuser_refresh on, the scheduler refreshes a superuser\'s view');
is($node->safe_psql('postgres', q{SELECT refresh_blocked IS NULL FROM reporting.status WHERE view = 'admin_tick'::regclass}),
	't', 'and status says nothing blocks it');
$node->safe_psql('postgres', q{
ALTER SYSTEM RESET reporting.enable_superuser_refresh;
SELECT pg_reload_conf();
});
my $disabled = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
ok( poll_until(
		$node, qq{SELECT count(*) >= 2 FROM reporting.runs
		           WHERE view = 'admin_tick'::regclass AND origin = 'schedule' AND status = 'skipped'
		             AND started_at > '$disabled'}),
	'turned off again, it is skipped');
$node->safe_psql('postgres', q{SELECT reporting.unregister('admin_tick')});

###############################################################################
# 3. a schema swapped in after the install is never used by the scheduler
###############################################################################
$node->safe_psql('postgres', q{
GRANT CREATE ON DATABASE postgres TO bob;
SELECT reporting.register('report', every => '1 second', refresh_when => 'always');
ALTER SCHEMA reporting RENAME TO reporting_real;
SET ROLE bob;
CREATE SCHEMA reporting;
CREATE FUNCTION reporting._scheduled()
RETURNS TABLE (view regclass, owner oid, can_login bool, next_refresh_at timestamptz, upstream regclass[])
LANGUAGE plpgsql AS $$BEGIN PERFORM public.bobs_rate(); END$$;
CREATE FUNCTION reporting._skip_reason(regclass) RETURNS text
LANGUAGE plpgsql AS $$BEGIN PERFORM public.bobs_rate(); RETURN NULL; END$$;
RESET ROLE;
});
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok($node->wait_for_log(qr/schema "reporting" is not the schema extension "reporting" was installed in/,
		$log_offset),
	'the scheduler refuses a schema renamed into the place of the extension\'s, and says so');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FILTER (WHERE superuser) || ' ' || (SELECT rolsuper FROM pg_roles WHERE rolname = 'bob') FROM audit}),
	'0 false', 'bob\'s functions in the swapped-in schema never ran as a superuser');
$node->safe_psql('postgres', q{
DROP SCHEMA reporting CASCADE;
ALTER SCHEMA reporting_real RENAME TO reporting;
SELECT reporting.register('report');
});

###############################################################################
# 4. not trusted: a database owner cannot install it
###############################################################################
is( $node->safe_psql('postgres',
		q{SELECT bool_or(trusted) FROM pg_available_extension_versions WHERE name = 'reporting'}),
	'f', 'no version of the extension is trusted');
$node->safe_psql('postgres', 'CREATE DATABASE alices OWNER alice');
my ($ret, $stdout, $stderr) =
  $node->psql('alices', 'CREATE EXTENSION reporting', extra_params => [ '-U', 'alice' ]);
isnt($ret, 0, 'a database owner who is not a superuser cannot create the extension');
like($stderr, qr/permission denied to create extension "reporting"/, 'and is told why');

$node->stop;
done_testing();
