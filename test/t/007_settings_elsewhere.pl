# A setting that changes what a report's query returns (TimeZone here) set
# for its owner from another database: ALTER ROLE ... SET (every database),
# ALTER ROLE ... IN DATABASE other SET, ALTER DATABASE other SET.  Refreshes
# of reports owned by that role run with the new default from then on
# (settings.c), so a report refreshed before is no longer proven fresh, in
# whichever database it lives; and the cached answer of freshness() in a
# session of that database must say so too.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('settings_elsewhere');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'reporting'
reporting.enabled = off
});
$node->start;

$node->safe_psql('postgres', q{
CREATE ROLE regress_owner LOGIN;
CREATE DATABASE reports OWNER regress_owner;
CREATE DATABASE other;
});
$node->safe_psql('reports', q{
CREATE EXTENSION reporting;
GRANT EXECUTE ON FUNCTION
    reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text),
    reporting.refresh(regclass, text)
  TO regress_owner;
SET ROLE regress_owner;
CREATE TABLE orders (id int PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO orders VALUES (1, '2025-03-09 23:30:00+00');
CREATE MATERIALIZED VIEW daily AS SELECT at::date AS day, count(*) AS n FROM orders GROUP BY 1;
CREATE UNIQUE INDEX ON daily (day);
SELECT reporting.register('daily');
SELECT reporting.refresh('daily');
});

my $fresh = q{SELECT fresh FROM reporting.freshness('daily')};

# one session of the reports database, asking before and after each change
# (its answers come from its cache)
my $asker = $node->background_psql('reports');
is($asker->query_safe($fresh), 't', 'fresh after its refresh');

my @changes = (
	[ 'ALTER ROLE regress_owner SET TimeZone = \'Asia/Tokyo\'', 'a role setting for every database' ],
	[ 'ALTER ROLE regress_owner IN DATABASE reports SET TimeZone = \'America/New_York\'',
	  'a role setting for that database, from another' ],
	[ 'ALTER DATABASE reports SET TimeZone = \'Europe/Berlin\'', 'a database setting, from another' ],
);
for my $change (@changes)
{
	my ($sql, $what) = @$change;
	$node->safe_psql('other', $sql);
	is($asker->query_safe($fresh), 'f', "not fresh after $what");
	is($node->safe_psql('reports', $fresh), 'f', "not fresh for a new session either ($what)");
	$node->safe_psql('reports', q{SET ROLE regress_owner; SELECT reporting.refresh('daily')});
	is($asker->query_safe($fresh), 't', "fresh again after a refresh ($what)");
}

# a setting of some other database leaves these reports alone
$node->safe_psql('postgres', q{ALTER DATABASE other SET TimeZone = 'Asia/Kolkata'});
is($asker->query_safe($fresh), 't', 'another database\'s setting changes nothing here');

$asker->quit;
$node->stop;
done_testing();
