# reporting: PGXS build and test entry points.
#
# make                 build reporting.so
# make install         install the library and extension scripts
# make installcheck    pg_regress and isolation suites against a running server
#                      (PGHOST/PGPORT)
# make check-tap       Perl TAP suites (PostgreSQL::Test::Cluster); must not run as root
#
# The README's two commands (scripts/demo, scripts/test) wrap all of this with a
# throwaway cluster.

MODULE_big = reporting
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
PG_CPPFLAGS = -I$(srcdir)/src
SHLIB_LINK =

EXTENSION = reporting
DATA = $(sort $(wildcard sql/reporting--*.sql))

REGRESS = $(patsubst sql/%.sql,%,$(sort $(filter-out sql/reporting--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --load-extension=reporting

ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=reporting

PROVE_TESTS = test/t/*.pl

EXTRA_CLEAN = tmp_check results regression.diffs regression.out output_iso

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object file includes the shared header (PGXS tracks no header dependencies)
$(OBJS): $(wildcard src/*.h)

.PHONY: check-tap
check-tap:
	$(prove_installcheck)

.PHONY: bench
bench:
	bench/run
