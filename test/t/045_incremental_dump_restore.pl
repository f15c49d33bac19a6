# Incremental reports survive pg_dump / pg_restore: the capture triggers on
# the fact table are named after the report's id in reporting.incrementals
# and pass it as their argument, and the capture's shared entry is keyed by
# it, so the restored report (a new OID in a new database) is captured by
# the restored triggers.  The first refresh after the restore may recompute
# everything (nothing was captured in that database yet); the next one,
# after one new row, is incremental.  Renaming the report, its schema or
# the fact table keeps it working, new reports get ids of their own after a
# restore (the id sequence is dumped), and a restart costs one full refresh.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('incremental_dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'reporting'");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE source_db');
$node->safe_psql('source_db', q{
CREATE EXTENSION reporting;
CREATE SCHEMA "Sales $";
CREATE SCHEMA "Reports $";
CREATE TABLE "Sales $".orders (id bigserial, created_at timestamptz NOT NULL, amount int NOT NULL)
  PARTITION BY RANGE (created_at);
CREATE TABLE "Sales $".orders_2026 PARTITION OF "Sales $".orders
  FOR VALUES FROM ('2026-01-01 00:00+00') TO ('2027-01-01 00:00+00');
CREATE TABLE "Sales $".orders_rest PARTITION OF "Sales $".orders DEFAULT;
INSERT INTO "Sales $".orders (created_at, amount)
  SELECT timestamptz '2025-12-01 00:00+00' + g * interval '7 hours', g % 13 FROM generate_series(1, 600) g;
SELECT reporting.create_incremental('"Reports $"."Daily"', $q$
    SELECT (o.created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS orders, sum(o.amount) AS amount
      FROM "Sales $".orders o WHERE o.created_at >= $1 AND o.created_at < $2 GROUP BY 1 $q$,
    time_column => '"Sales $".orders.created_at', bucket_column => 'day', time_zone => 'UTC');
INSERT INTO "Sales $".orders (created_at, amount) VALUES ('2026-01-03 10:00+00', 5);
});
is($node->safe_psql('source_db', q{SELECT mode FROM reporting.refresh('"Reports $"."Daily"')}),
	'incremental', 'the source database refreshes the report incrementally');
my $id = $node->safe_psql('source_db', 'SELECT id FROM reporting.incrementals');

my $file = "${PostgreSQL::Test::Utils::tmp_check}/incremental.dump";
$node->command_ok(
	[ 'pg_dump', '--format', 'custom', '--file', $file, '--dbname', $node->connstr('source_db') ],
	'pg_dump of a database with an incremental report');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '--dbname', $node->connstr('restored'), $file ],
	'pg_restore of it');

# what a refresh did, and whether the report equals its query
sub refresh_mode
{
	my ($db, $report) = @_;
	return $node->safe_psql($db, "SELECT mode FROM reporting.refresh('$report')");
}

sub differences
{
	my ($db, $report) = @_;
	return $node->safe_psql($db, "SELECT count(*) FROM reporting.verify('$report')");
}

is($node->safe_psql('restored', 'SELECT id FROM reporting.incrementals'), $id,
	'the restored report keeps its id');
is( $node->safe_psql('restored', q{
	SELECT string_agg(t.tgname || ':' || split_part(encode(t.tgargs, 'escape'), '\000', 1) || ':' || t.tgenabled::text,
	                  ',' ORDER BY t.tgrelid::regclass::text COLLATE "C", t.tgname COLLATE "C")
	  FROM pg_trigger t WHERE t.tgfoid = 'reporting._capture()'::regprocedure}),
	join(',',
		map { ("reporting_capture_$id:$id:A", "~reporting_capture_$id:$id:A") } (1 .. 3)),
	'the restored capture triggers name and pass the id, enabled always on the table and its partitions');

# the first refresh after the restore may be full: nothing was captured in
# this database yet
is( $node->safe_psql('restored',
		q{SELECT rows > 0 FROM reporting.refresh('"Reports $"."Daily"')}),
	't', 'the restored report refreshes');
$node->safe_psql('restored',
	q{INSERT INTO "Sales $".orders (created_at, amount) VALUES ('2026-01-04 11:00+00', 7)});
is(refresh_mode('restored', '"Reports $"."Daily"'), 'incremental',
	'after one new row, the restored report refreshes incrementally');
is(differences('restored', '"Reports $"."Daily"'), '0', 'and equals its query');
is($node->safe_psql('restored', 'SELECT last_full_reason IS NULL FROM reporting.incrementals'),
	't', 'with no reason to recompute everything');

# renames of the report and of its schema (its query is text: the tables
# it names keep their names)
$node->safe_psql('restored', q{
ALTER TABLE "Reports $"."Daily" RENAME TO daily_renamed;
ALTER SCHEMA "Reports $" RENAME TO reports;
});
is( $node->safe_psql('restored', q{SELECT rows > 0 FROM reporting.refresh('reports.daily_renamed')}),
	't', 'the renamed report refreshes');
$node->safe_psql('restored',
	q{INSERT INTO "Sales $".orders (created_at, amount) VALUES ('2026-02-01 09:00+00', 3), ('2025-12-24 08:00+00', 4)});
is(refresh_mode('restored', 'reports.daily_renamed'), 'incremental',
	'after renames of the report and its schema, refreshes stay incremental');
is(differences('restored', 'reports.daily_renamed'), '0', 'and the renamed report equals its query');

# a report created after the restore gets an id of its own
$node->safe_psql('restored', q{
SELECT reporting.create_incremental('reports.monthly', $q$
    SELECT date_trunc('month', o.created_at AT TIME ZONE 'UTC') AS month, sum(o.amount) AS amount
      FROM "Sales $".orders o WHERE o.created_at >= $1 AND o.created_at < $2 GROUP BY 1 $q$,
    time_column => '"Sales $".orders.created_at', bucket_column => 'month',
    bucket_width => '1 month', time_zone => 'UTC');
});
is($node->safe_psql('restored', 'SELECT count(DISTINCT id) FROM reporting.incrementals'),
	'2', 'a report created after the restore has an id of its own');
# its triggers changed the fact table's catalog rows: one refresh of the
# first report may recompute everything
refresh_mode('restored', 'reports.daily_renamed');
$node->safe_psql('restored',
	q{INSERT INTO "Sales $".orders (created_at, amount) VALUES ('2026-03-05 10:00+00', 9)});
is( refresh_mode('restored', 'reports.daily_renamed') . ','
	  . refresh_mode('restored', 'reports.monthly'),
	'incremental,incremental', 'both reports on the fact table refresh incrementally');
is( differences('restored', 'reports.daily_renamed') . ','
	  . differences('restored', 'reports.monthly'),
	'0,0', 'and both equal their queries');

# the source database is untouched by all this
$node->safe_psql('source_db',
	q{INSERT INTO "Sales $".orders (created_at, amount) VALUES ('2026-01-05 12:00+00', 11)});
is(refresh_mode('source_db', '"Reports $"."Daily"'), 'incremental',
	'the source database still refreshes incrementally');
is(differences('source_db', '"Reports $"."Daily"'), '0', 'and its report equals its query');

# a restart loses the shared entries: one full refresh, then incremental
$node->restart;
$node->safe_psql('restored',
	q{INSERT INTO "Sales $".orders (created_at, amount) VALUES ('2026-01-06 12:00+00', 2)});
is(refresh_mode('restored', 'reports.daily_renamed'), 'full',
	'the first refresh after a restart recomputes everything');
$node->safe_psql('restored',
	q{INSERT INTO "Sales $".orders (created_at, amount) VALUES ('2026-01-07 12:00+00', 1)});
is(refresh_mode('restored', 'reports.daily_renamed'), 'incremental', 'the next one is incremental');
is(differences('restored', 'reports.daily_renamed'), '0', 'and the report equals its query');

$node->stop;
done_testing();
