# Without shared_preload_libraries = 'reporting' the extension still installs,
# registers and refreshes: the library loads on first use.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init;
$node->start;

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), '',
	'the library is not preloaded');

$node->safe_psql('postgres', q{
CREATE EXTENSION reporting;
CREATE TABLE orders (id int PRIMARY KEY, total_cents bigint NOT NULL);
INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g;
CREATE MATERIALIZED VIEW totals AS SELECT 1 AS k, sum(total_cents) AS s FROM orders;
CREATE UNIQUE INDEX ON totals (k);
SELECT reporting.register('totals', every => '1 minute');
});

is($node->safe_psql('postgres', q{SELECT mode || ' ' || rows FROM reporting.refresh('totals')}),
	'concurrently 1', 'a manual refresh works without preloading');
is($node->safe_psql('postgres', q{SELECT string_agg(status, ',') FROM reporting.refresh_all()}),
	'refreshed', 'refresh_all works without preloading');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM reporting.refresh_all(); SHOW reporting.history_max_age}),
	"1\n30d", 'the GUCs are defined once the library is loaded');

# change tracking is off, says so, and never gets in the way of a write
$node->safe_psql('postgres', q{INSERT INTO orders VALUES (1000, 1)});
is($node->safe_psql('postgres', q{SELECT coalesce(sources_changed::text, 'unknown') FROM reporting.status}),
	'unknown', 'without preloading, freshness is unknown');
like($node->safe_psql('postgres', q{SELECT freshness FROM reporting.status}),
	qr/change tracking is off \(reporting is not in shared_preload_libraries\)$/,
	'and the status says why');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal}),
	'0', 'registering put nothing on the tables read');

my ($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SELECT count(*) FROM reporting.refresh_all(); SET reporting.no_such_setting = 1});
like($stderr, qr/invalid configuration parameter name "reporting.no_such_setting"/,
	'the reporting. prefix is reserved: a misspelt setting is an error');

# preloaded later: what was registered is tracked, with nothing to redo
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'reporting'");
$node->restart;
$node->safe_psql('postgres', q{SELECT reporting.refresh('totals')});
is($node->safe_psql('postgres', q{SELECT sources_changed FROM reporting.status}), 'f',
	'once preloaded, a refresh makes freshness known');
$node->safe_psql('postgres', q{INSERT INTO orders VALUES (1001, 1)});
is($node->safe_psql('postgres', q{SELECT sources_changed FROM reporting.status}), 't',
	'and writes are tracked without registering again');

$node->stop;
done_testing();
