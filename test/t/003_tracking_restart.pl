# Change tracking across what shared memory does not survive: after a
# restart or a crash every report reads "unknown" until it is refreshed; a
# prepared transaction makes its tables unknown until it is resolved, and one
# that survived a restart its whole database; a copy of a database does not
# inherit freshness; a full tracker table degrades to unknown, never to
# fresh, and dropped tables give their entries back.
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

# a transaction prepared before a restart and still pending after it: what
# it wrote is unknown (the backend that noted it is gone), so every source in
# its database is unknown until it ends, and a refresh meanwhile proves nothing
$node->safe_psql('postgres', q{BEGIN; INSERT INTO orders VALUES (10); PREPARE TRANSACTION 'survivor'});
$node->restart;
$node->safe_psql('postgres', q{SELECT reporting.refresh('order_count')});
is($node->safe_psql('postgres', $verdict), 'unknown',
	'a refresh while a transaction prepared before the restart is pending proves nothing');
like($node->safe_psql('postgres', q{SELECT unknown_reason FROM reporting.status WHERE view = 'order_count'::regclass}),
	qr/transaction "survivor" was prepared before the server restarted/, 'and the reason names it');
$node->safe_psql('postgres', q{COMMIT PREPARED 'survivor'});
is($node->safe_psql('postgres', q{SELECT n = (SELECT count(*) FROM orders) FROM order_count}), 'f',
	'the view misses the row the prepared transaction committed');
is($node->safe_psql('postgres', $verdict), 'unknown', 'and is not called fresh');
$node->safe_psql('postgres', q{SELECT reporting.refresh('order_count')});
is($node->safe_psql('postgres', $verdict), 'false', 'fresh after refreshing again');

# a copy of a database (CREATE DATABASE ... TEMPLATE) has the same history
# but generations of its own: unknown there until refreshed
$node->safe_psql('postgres', q{INSERT INTO orders VALUES (11)});
is($node->safe_psql('postgres', $verdict), 'true', 'the original misses a row');
$node->safe_psql('postgres', q{CREATE DATABASE copied TEMPLATE postgres});
is($node->safe_psql('copied', $verdict), 'unknown', 'the copy is not called fresh');
like($node->safe_psql('copied', q{SELECT unknown_reason FROM reporting.status WHERE view = 'order_count'::regclass}),
	qr/recorded in the database this one was copied from/, 'and says why');
$node->safe_psql('copied', q{SELECT reporting.refresh('order_count')});
is($node->safe_psql('copied', $verdict), 'false', 'known in the copy after a refresh there');
$node->safe_psql('copied', q{INSERT INTO orders VALUES (12)});
is($node->safe_psql('copied', $verdict), 'true', 'and the copy tracks its own writes');
$node->safe_psql('postgres', q{SELECT reporting.refresh('order_count')});
is($node->safe_psql('postgres', $verdict), 'false', 'while the original is not affected by the copy\'s writes');

# partition churn never fills the tracker: entries of dropped tables are
# reclaimed (reporting.max_tracked_tables is 100 here)
$node->safe_psql('postgres', q{
CREATE TABLE churn (id int, day int) PARTITION BY RANGE (day);
CREATE MATERIALIZED VIEW churn_count AS SELECT 1 AS k, count(*) AS n FROM churn;
CREATE UNIQUE INDEX ON churn_count (k);
SELECT reporting.register('churn_count');
});
for my $i (1 .. 150)
{
	$node->safe_psql('postgres', qq{
CREATE TABLE churn_$i PARTITION OF churn FOR VALUES FROM ($i) TO (@{[$i + 1]});
INSERT INTO churn VALUES ($i, $i);
SELECT reporting.refresh('churn_count');
DROP TABLE churn_$i;
});
}
$node->safe_psql('postgres', q{SELECT reporting.refresh('churn_count')});
is($node->safe_psql('postgres', q{SELECT coalesce(sources_changed::text, 'unknown') FROM reporting.status WHERE view = 'churn_count'::regclass}),
	'false', 'after 150 partitions came and went, the tracker still has room');
$node->safe_psql('postgres', q{INSERT INTO orders VALUES (13)});
is($node->safe_psql('postgres', $verdict), 'true', 'and changes are still tracked');
$node->safe_psql('postgres', q{SELECT reporting.refresh('order_count')});

# a full tracker table: tables it cannot hold read as unknown, never fresh
$node->safe_psql('postgres', q{
CREATE TABLE late (id int);
CREATE MATERIALIZED VIEW late_count AS SELECT 1 AS k, count(*) AS n FROM late;
CREATE UNIQUE INDEX ON late_count (k);
SELECT reporting.register('late_count');
});
# 120 other reports, each on a table of its own, refreshed: more than the
# 100 entries of the tracker
$node->safe_psql('postgres', q{
DO $$ BEGIN FOR i IN 1..120 LOOP
  EXECUTE format('CREATE TABLE filler_%s (id int)', i);
  EXECUTE format('CREATE MATERIALIZED VIEW filler_report_%s AS SELECT count(*) AS n FROM filler_%s', i, i);
  PERFORM reporting.register(format('filler_report_%s', i)::regclass, mode => 'plain');
  PERFORM reporting.refresh(format('filler_report_%s', i)::regclass);
END LOOP; END $$;
SELECT reporting.refresh('late_count');
INSERT INTO late VALUES (1);
});
my $late = q{SELECT coalesce(sources_changed::text, 'unknown') FROM reporting.status WHERE view = 'late_count'::regclass};
is($node->safe_psql('postgres', $late), 'unknown',
	'when the tracker is full, a table it cannot hold reads as unknown, not fresh');
like($node->safe_psql('postgres', q{SELECT unknown_reason FROM reporting.status WHERE view = 'late_count'::regclass}),
	qr/reporting\.max_tracked_tables/, 'and the reason names the setting to raise');
is($node->safe_psql('postgres', q{SELECT n = (SELECT count(*) FROM late) FROM late_count}), 'f',
	'(the view does miss a row)');
# dropping the fillers gives their entries back
$node->safe_psql('postgres', q{
DO $$ BEGIN FOR i IN 1..120 LOOP EXECUTE format('DROP TABLE filler_%s CASCADE', i); END LOOP; END $$;
SELECT reporting.refresh('late_count');
});
is($node->safe_psql('postgres', $late), 'false', 'entries of dropped tables are reclaimed: known again after a refresh');
$node->safe_psql('postgres', q{INSERT INTO late VALUES (2)});
is($node->safe_psql('postgres', $late), 'true', 'and tracked');

$node->stop;
done_testing();
