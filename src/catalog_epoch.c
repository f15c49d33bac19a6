/*-------------------------------------------------------------------------
 *
 * catalog_epoch.c
 *		A per-backend counter of relcache invalidations, for caches of
 *		answers worked out from the system catalogs.
 *
 * Every change of a relation's catalog rows (ALTER, CREATE OR REPLACE VIEW,
 * a trigger created, dropped, enabled or disabled, TRUNCATE and other
 * rewrites, ATTACH and DETACH PARTITION, DROP) queues a relcache
 * invalidation, which each backend applies before it next locks a
 * relation.  A cache that reads the counter before it computes an answer,
 * and keeps the answer only while the counter has not moved, never serves
 * an answer older than the catalog it was read from.  It is coarse on
 * purpose: any relation's invalidation (VACUUM's statistics, an unrelated
 * table's DDL) empties every such cache, which then costs one
 * recomputation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/inval.h"

#include "reporting.h"

static uint64 catalog_epoch = 1;
static bool callback_registered = false;

static void
bump_epoch(Datum arg, Oid relid)
{
	catalog_epoch++;
}

/*
 * reporting_catalog_epoch
 *		The backend's count of relcache invalidations so far (never 0).
 *
 * Read it before working out an answer from the catalogs, and trust the
 * answer later only while the count is the same.  The first call registers
 * the callback (a backend may register few); earlier invalidations do not
 * matter, since nothing could have cached an answer before.  Raises no
 * error.
 */
uint64
reporting_catalog_epoch(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(bump_epoch, (Datum) 0);
		callback_registered = true;
		catalog_epoch++;
	}
	return catalog_epoch;
}
