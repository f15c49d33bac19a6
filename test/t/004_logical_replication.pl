# On a logical-replication subscriber, changes arrive through the apply
# worker, which writes without the executor's hooks.  A report on a
# subscribed table must still see them as changes: never fresh while it
# misses a replicated row.  The apply worker counts every table of its
# subscription as changed when it commits an applied transaction.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $publisher = PostgreSQL::Test::Cluster->new('publisher');
$publisher->init(allows_streaming => 'logical');
$publisher->start;

my $subscriber = PostgreSQL::Test::Cluster->new('subscriber');
$subscriber->init;
$subscriber->append_conf('postgresql.conf', "shared_preload_libraries = 'reporting'");
$subscriber->start;

my $table = 'CREATE TABLE orders (id int PRIMARY KEY, total_cents bigint NOT NULL)';
$publisher->safe_psql('postgres', $table);
$publisher->safe_psql('postgres', 'INSERT INTO orders VALUES (1, 100)');
$publisher->safe_psql('postgres', 'CREATE PUBLICATION orders_pub FOR TABLE orders');

$subscriber->safe_psql('postgres', $table);
my $connstr = $publisher->connstr . ' dbname=postgres';
$subscriber->safe_psql('postgres', "CREATE SUBSCRIPTION orders_sub CONNECTION '$connstr' PUBLICATION orders_pub");
$subscriber->wait_for_subscription_sync($publisher, 'orders_sub');

$subscriber->safe_psql('postgres', q{
CREATE EXTENSION reporting;
CREATE MATERIALIZED VIEW revenue AS SELECT 1 AS k, sum(total_cents) AS s, count(*) AS n FROM orders;
CREATE UNIQUE INDEX ON revenue (k);
SELECT reporting.register('revenue');
SELECT reporting.refresh('revenue');
});

is($subscriber->safe_psql('postgres', q{SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal}),
	'0', 'nothing is put on the subscribed table');
my $verdict = q{SELECT coalesce(sources_changed::text, 'unknown') FROM reporting.status WHERE view = 'revenue'::regclass};
is($subscriber->safe_psql('postgres', $verdict), 'false', 'fresh after a refresh on the subscriber');

$publisher->safe_psql('postgres', 'INSERT INTO orders VALUES (2, 200)');
$publisher->wait_for_catchup('orders_sub');
is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM orders'), '2', 'the row was replicated');
is($subscriber->safe_psql('postgres', $verdict), 'true', 'a replicated INSERT marks the report changed');

$subscriber->safe_psql('postgres', q{SELECT reporting.refresh('revenue')});
$publisher->safe_psql('postgres', 'UPDATE orders SET total_cents = 300 WHERE id = 2');
$publisher->safe_psql('postgres', 'DELETE FROM orders WHERE id = 1');
$publisher->wait_for_catchup('orders_sub');
is($subscriber->safe_psql('postgres', q{SELECT changes FROM reporting.staleness('revenue')}), '2',
	'replicated UPDATE and DELETE count, one change per applied transaction');

$subscriber->safe_psql('postgres', q{SELECT reporting.refresh('revenue')});
$publisher->safe_psql('postgres', 'TRUNCATE orders');
$publisher->wait_for_catchup('orders_sub');
is($subscriber->safe_psql('postgres', $verdict), 'true', 'a replicated TRUNCATE counts');

# a local write on the subscriber is tracked like anywhere else
$subscriber->safe_psql('postgres', q{SELECT reporting.refresh('revenue')});
is($subscriber->safe_psql('postgres', $verdict), 'false', 'fresh again after a refresh');
$subscriber->safe_psql('postgres', q{INSERT INTO orders VALUES (9, 900)});
is($subscriber->safe_psql('postgres', $verdict), 'true', 'a local INSERT on the subscriber counts');

$subscriber->stop;
$publisher->stop;
done_testing();
