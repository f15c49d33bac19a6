# Change tracking across what shared memory does not survive: after a
# restart or a crash every report reads "unknown" until it is refreshed; a
# prepared transaction makes its tables unknown until it is resolved; a full
# tracker table degrades to unknown, never to fresh.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('tracking');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'reporting'
max_prepared_transactions = 5
restart_after_crash = on
reporting.max_tracked_tables = 100
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION reporting;
CREATE TABLE orders (id int PRIMARY KEY);
INSERT INTO orders VALUES (1);
CREATE MATERIALIZED VIEW order_count AS SELECT 1 AS k, count(*) AS n FROM orders;
CREATE UNIQUE INDEX ON order_count (k);
SELECT reporting.register('order_count');
SELECT reporting.refresh('order_count');
});

my $verdict = q{SELECT coalesce(sources_changed::text, 'unknown') FROM reporting.status WHERE view = 'order_count'::regclass};
my $freshness = q{SELECT freshness FROM reporting.status WHERE view = 'order_count'::regclass};

is($node->safe_psql('postgres', $verdict), 'false', 'fresh after a refresh');

# restart: shared memory is gone, so nothing can be proven
$node->restart;
is($node->safe_psql('postgres', $verdict), 'unknown', 'unknown after a restart');
like($node->safe_psql('postgres', $freshness), qr/; unknown since the server restarted$/,
	'the freshness sentence says why');
$node->safe_psql('postgres', q{SELECT reporting.refresh('order_count')});
is($node->safe_psql('postgres', $verdict), 'false', 'known again after a refresh');
$node->safe_psql('postgres', q{INSERT INTO orders VALUES (2)});
is($node->safe_psql('postgres', $verdict), 'true', 'and changes are tracked again');
$node->safe_psql('postgres', q{SELECT reporting.refresh('order_count')});

# crash: a backend killed with SIGKILL makes the postmaster reinitialise
# shared memory, which starts a new epoch
my $bg = $node->background_psql('postgres');
my $victim = $bg->query_safe('SELECT pg_backend_pid()');
kill 'KILL', $victim;
eval { $bg->quit };
$node->poll_query_until('postgres', 'SELECT 1', '1')
  or die 'the server did not come back after the crash';
is($node->safe_psql('postgres', $verdict), 'unknown', 'unknown after a crash restart');
$node->safe_psql('postgres', q{SELECT reporting.refresh('order_count')});
is($node->safe_psql('postgres', $verdict), 'false', 'known again after a refresh');

# a prepared transaction: unknown while it is pending, changed once committed
$node->safe_psql('postgres', q{BEGIN; INSERT INTO orders VALUES (3); PREPARE TRANSACTION 'p1'});
is($node->safe_psql('postgres', $verdict), 'unknown', 'unknown while a prepared transaction that wrote a source is pending');
like($node->safe_psql('postgres', $freshness), qr/a prepared transaction changed it/,
	'the freshness sentence names the prepared transaction');
$node->safe_psql('postgres', q{COMMIT PREPARED 'p1'});
is($node->safe_psql('postgres', $verdict), 'true', 'changed once the prepared transaction committed');
$node->safe_psql('postgres', q{SELECT reporting.refresh('order_count')});
is($node->safe_psql('postgres', $verdict), 'false', 'fresh after refreshing');

# a full tracker table: tables it cannot hold read as unknown, never fresh
$node->safe_psql('postgres', q{
CREATE TABLE late (id int);
CREATE MATERIALIZED VIEW late_count AS SELECT 1 AS k, count(*) AS n FROM late;
CREATE UNIQUE INDEX ON late_count (k);
SELECT reporting.register('late_count');
SELECT reporting.refresh('late_count');
});
is($node->safe_psql('postgres', q{SELECT sources_changed FROM reporting.status WHERE view = 'late_count'::regclass}),
	'f', 'a view on an untouched table is fresh');
# 120 other tracked tables, written, fill the 100 entries of the tracker
$node->safe_psql('postgres', q{
DO $$ BEGIN FOR i IN 1..120 LOOP
  EXECUTE format('CREATE TABLE filler_%s (id int)', i);
  EXECUTE format('CREATE TRIGGER reporting_track_changes AFTER INSERT ON filler_%s FOR EACH STATEMENT EXECUTE FUNCTION reporting.track_change()', i);
END LOOP; END $$;
DO $$ BEGIN FOR i IN 1..120 LOOP EXECUTE format('INSERT INTO filler_%s VALUES (1)', i); END LOOP; END $$;
INSERT INTO late VALUES (1);
});
is($node->safe_psql('postgres', q{SELECT coalesce(sources_changed::text, 'unknown') FROM reporting.status WHERE view = 'late_count'::regclass}),
	'unknown', 'when the tracker is full, a table it cannot hold reads as unknown, not fresh');
like($node->safe_psql('postgres', q{SELECT unknown_reason FROM reporting.status WHERE view = 'late_count'::regclass}),
	qr/reporting\.max_tracked_tables/, 'and the reason names the setting to raise');

$node->stop;
done_testing();
