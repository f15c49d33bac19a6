# pg_dump / pg_restore keep the registrations and refresh grants: the
# configuration tables are dumped with the extension, the views it names are resolved again by name
# in the restored database, and refreshing works there.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'reporting'");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE source_db');
$node->safe_psql('source_db', q{
CREATE EXTENSION reporting;
CREATE SCHEMA "Sales $";
CREATE TABLE "Sales $".orders (id bigint PRIMARY KEY, created_at timestamptz NOT NULL,
                               total_cents bigint NOT NULL, status text NOT NULL);
INSERT INTO "Sales $".orders
  SELECT g, timestamptz '2025-01-01 00:00+00' + g * interval '1 hour', g * 10,
         CASE WHEN g % 5 = 0 THEN 'failed' ELSE 'paid' END
    FROM generate_series(1, 500) g;
CREATE MATERIALIZED VIEW "Sales $"."Daily ""Revenue""" AS
  SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS order_count, sum(total_cents) AS revenue_cents
    FROM "Sales $".orders WHERE status = 'paid' GROUP BY 1;
CREATE UNIQUE INDEX ON "Sales $"."Daily ""Revenue""" (day);
CREATE MATERIALIZED VIEW public.weekly AS
  SELECT date_trunc('week', day) AS week, sum(revenue_cents) AS revenue_cents
    FROM "Sales $"."Daily ""Revenue""" GROUP BY 1;
SELECT reporting.register('"Sales $"."Daily ""Revenue"""', every => '5 minutes', max_age => '1 hour',
                          lock_timeout => '2 seconds', statement_timeout => '1 minute');
SELECT reporting.register('public.weekly', cron => '5 0 * * *', timezone => 'Europe/Berlin', mode => 'plain');
SELECT count(*) FROM reporting.refresh_all();
-- a refresh grant (a second configuration table, which refers to the first)
CREATE ROLE "Dashboard Job";
SELECT reporting.grant_refresh('public.weekly', '"Dashboard Job"');
});
my $grants = q{
SELECT view, grantee, granted_by FROM reporting.refresh_grants ORDER BY view::text COLLATE "C"};
my $grants_before = $node->safe_psql('source_db', $grants);
like($grants_before, qr/Dashboard Job/, 'the source database has a refresh grant');

my $registrations = q{
SELECT view, every, cron, timezone, mode, refresh_when, max_age, lock_timeout, statement_timeout
  FROM reporting.registrations ORDER BY view::text COLLATE "C"};
my $before = $node->safe_psql('source_db', $registrations);
like($before, qr/Daily/, 'the source database has its registrations');

foreach my $format ('custom', 'plain')
{
	my $db = "restored_$format";
	my $file = "${PostgreSQL::Test::Utils::tmp_check}/source_db.$format";
	$node->command_ok(
		[ 'pg_dump', '--format', $format, '--file', $file, '--dbname', $node->connstr('source_db') ],
		"pg_dump --format=$format");
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	if ($format eq 'custom')
	{
		$node->command_ok(
			[ 'pg_restore', '--exit-on-error', '--dbname', $node->connstr($db), $file ],
			'pg_restore of the custom-format dump');
	}
	else
	{
		$node->command_ok(
			[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $file, '--dbname', $node->connstr($db) ],
			'psql restores the plain dump');
	}

	is($node->safe_psql($db, $registrations), $before,
		"registrations survive a $format dump and restore");
	is($node->safe_psql($db, $grants), $grants_before,
		"refresh grants survive a $format dump and restore");
	is( $node->safe_psql($db,
			q{SELECT bool_and(registered_owner = owner) FROM reporting.status}),
		't',
		"the restored registrations keep their owners ($format)");
	is($node->safe_psql($db, 'SELECT count(*) FROM reporting.runs'), '0',
		"the history is not part of the $format dump");
	is( $node->safe_psql($db,
			q{SELECT string_agg(view::text || ':' || status, ',' ORDER BY view::text COLLATE "C")
			    FROM reporting.refresh_all()}),
		'"Sales $"."Daily ""Revenue""":refreshed,weekly:refreshed',
		"refresh_all works in the database restored from the $format dump");
	is( $node->safe_psql($db,
			q{SELECT freshness FROM reporting.status WHERE view = 'public.weekly'::regclass}) =~
		  /^refreshed daily at 00:05 Europe\/Berlin/ ? 1 : 0,
		1,
		"the restored status describes the schedule ($format)");
}

$node->stop;
done_testing();
