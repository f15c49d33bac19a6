# The worked example's data loader (example/data/load.sql), which the demo
# and the benchmark use: -v days=N spreads the orders over the N days ending
# today, so that scales given days in proportion to orders have one daily
# volume (figure 13 of make bench, refresh time as history grows); without
# days, the two years ending today as before; a bad days is refused before
# anything is loaded.  A psql script that commits per batch, so it runs here
# through psql against a cluster of its own, not inside a pgTAP transaction.
use strict;
use warnings;

use File::Basename qw(dirname);
use Cwd qw(abs_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $example = abs_path(dirname(__FILE__) . '/../../example');
my $loader  = "$example/data/load.sql";

my $node = PostgreSQL::Test::Cluster->new('loader');
$node->init;
$node->start;

# A database with the example's tables (migration 0002), then the loader
# with the psql variables given; returns psql's exit code and stderr.
sub load
{
	my ($db, @vars) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->command_ok(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db),
		  '-f', "$example/migrations/0002_customers_orders.up.sql" ],
		"the example's tables in $db");
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db),
		  (map { ('-v', $_) } @vars), '-f', $loader ],
		'>', \$out, '2>', \$err);
	return ($? >> 8, $err);
}

# The first and last day holding orders, counted back from today (0 is
# today), in the loading database's time zone.
sub span
{
	my ($db) = @_;
	return $node->safe_psql($db,
		q{SELECT current_date - min(created_at)::date, current_date - max(created_at)::date,
		         count(*), bool_and(created_at <= now()) FROM orders});
}

my ($rc, $err) = load('two_years', 'orders=3000');
is($rc, 0, 'the loader runs without days') or diag($err);
my ($first, undef, $n, $past) = split /\|/, span('two_years');
is($n, 3000, 'without days, the orders asked for');
# (3000 orders over 730 days leave a few early days empty: the first
# month holds some, nothing is older than 729 days)
ok($first <= 729 && $first >= 700,
	'without days, the orders begin in the first month of the 730 days ending today')
	or diag("first day: $first days ago");
is($past, 't', 'no order is in the future');

($rc, $err) = load('ten_days', 'orders=3000', 'days=10');
is($rc, 0, 'the loader runs with days=10') or diag($err);
($first, undef, $n, $past) = split /\|/, span('ten_days');
is($n, 3000, 'with days, the orders asked for');
is($first, 9, 'with days=10, the first orders are 9 days before today (10 days)');
is($past, 't', 'no order is in the future with days either');

# one daily volume: twice the orders over twice the days place about as many
# orders a day (the last full week: both growth curves are near their end)
($rc, $err) = load('short_history', 'orders=14600', 'days=146');
is($rc, 0, 'the loader runs with days=146') or diag($err);
($rc, $err) = load('long_history', 'orders=29200', 'days=292');
is($rc, 0, 'the loader runs with days=292') or diag($err);
my $week = q{SELECT count(*) FROM orders WHERE created_at >= current_date - 7 AND created_at < current_date};
my $short = $node->safe_psql('short_history', $week);
my $long  = $node->safe_psql('long_history', $week);
ok($short > 0 && abs($long / $short - 1) < 0.1,
	'orders in proportion to days: about as many orders a day in the last week')
	or diag("last week: $short orders (146 days), $long orders (292 days)");
my $two_years = $node->safe_psql('two_years', $week);
ok($two_years > 0 && $long / $two_years > 4,
	'without days proportional to orders, the volume differs')
	or diag("last week: $two_years orders (3000 over 730 days), $long (29200 over 292 days)");

($rc, $err) = load('no_days', 'orders=1000', 'days=0');
isnt($rc, 0, 'days=0 is refused');
like($err, qr/days must be at least 1, not 0/, 'with a message that names days');
is($node->safe_psql('no_days', 'SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM orders)'),
	'0', 'and nothing is loaded');

$node->stop;
done_testing();
