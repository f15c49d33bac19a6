# The capture's shared table (reporting.max_incremental_reports entries
# across all databases) does not fill up with reports that are gone: a
# dropped or unregistered report's entry goes when its transaction commits,
# and when the table is full, the entries of dropped databases and of this
# database's reports that no longer exist (DROP EXTENSION) make room.  A
# report that finds no room is recomputed whole at every refresh, so "no
# room" shows as a full refresh with the reason.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('capture_entries');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'reporting'
reporting.max_incremental_reports = 10
reporting.enabled = off
});
$node->start;

my $schema = q{
CREATE EXTENSION reporting;
CREATE TABLE f (id serial PRIMARY KEY, ts timestamptz NOT NULL);
INSERT INTO f (ts) SELECT timestamptz '2026-01-01 00:00+00' + g * interval '9 hours' FROM generate_series(1, 100) g;
CREATE FUNCTION make_report(name text) RETURNS void LANGUAGE sql AS $f$
    SELECT reporting.create_incremental(name, $q$
        SELECT (ts AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM public.f
         WHERE ts >= $1 AND ts < $2 GROUP BY 1 $q$, 'f.ts', 'day', time_zone => 'UTC');
$f$;
};

# a report's refresh after one new row: incremental, or full and why
sub second_refresh
{
	my ($db, $report) = @_;
	return $node->safe_psql($db, qq{
INSERT INTO f (ts) VALUES ('2026-01-05 10:00+00');
CREATE TEMP TABLE m AS SELECT mode FROM reporting.refresh('$report');
SELECT CASE WHEN m.mode = 'full' THEN 'full: ' || i.last_full_reason ELSE m.mode END
  FROM m, reporting.incrementals i WHERE i.report = '$report'::regclass;});
}

$node->safe_psql('postgres', 'CREATE DATABASE one');
$node->safe_psql('one', $schema);

# twelve reports made and dropped, two unregistered: more than the table holds
$node->safe_psql('one', "SELECT make_report('gone' || i) FROM generate_series(1, 12) i");
$node->safe_psql('one', "DROP TABLE gone$_") for 1 .. 10;
$node->safe_psql('one', "SELECT reporting.unregister('gone$_')") for 11 .. 12;
$node->safe_psql('one', "SELECT make_report('kept')");
is(second_refresh('one', 'kept'), 'incremental',
	'dropped and unregistered reports left room for a new one');

# a report dropped in a transaction that rolls back keeps its entry
$node->safe_psql('one', 'BEGIN; DROP TABLE kept; ROLLBACK;');
is(second_refresh('one', 'kept'), 'incremental', 'a drop rolled back keeps the entry');

# a database dropped with its reports' entries
$node->safe_psql('postgres', 'CREATE DATABASE two');
$node->safe_psql('two', $schema);
$node->safe_psql('two', "SELECT make_report('r' || i) FROM generate_series(1, 9) i");
for my $i (1 .. 9)
{
	is(second_refresh('two', "r$i"), 'incremental', "report r$i of database two has room");
}
$node->safe_psql('postgres', 'DROP DATABASE two');
$node->safe_psql('one', "SELECT make_report('after_two')");
is(second_refresh('one', 'after_two'), 'incremental',
	'the entries of a dropped database make room');

# DROP EXTENSION leaves entries for reports that are gone
$node->safe_psql('postgres', 'CREATE DATABASE three');
$node->safe_psql('three', $schema);
$node->safe_psql('three', "SELECT make_report('r' || i) FROM generate_series(1, 8) i");
$node->safe_psql('three', "SELECT reporting.refresh('r' || i) FROM generate_series(1, 8) i");
$node->safe_psql('three', 'DROP EXTENSION reporting CASCADE');
$node->safe_psql('three', 'CREATE EXTENSION reporting');
$node->safe_psql('three', "SELECT make_report('again')");
is(second_refresh('three', 'again'), 'incremental',
	'the entries of reports dropped with the extension make room');

$node->stop;
done_testing();
