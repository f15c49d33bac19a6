/*-------------------------------------------------------------------------
 *
 * init.c
 *		Entry point of the reporting library: module magic and GUCs.
 *
 * The library is meant to be listed in shared_preload_libraries, where later
 * parts (change tracking, the scheduler) need it; it also loads on demand when
 * one of its SQL functions is first called, so that CREATE EXTENSION and manual
 * refreshes work without preloading.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "postmaster/postmaster.h"
#include "utils/guc.h"

#include "reporting.h"

PG_MODULE_MAGIC;

/* how long the history of refreshes is kept, in seconds */
int			reporting_history_max_age = 30 * 24 * 60 * 60;
/* runs kept per view (0: no cap) */
int			reporting_history_max_runs = 1000;
/* views scheduled more often than this (seconds) keep only their latest success */
int			reporting_history_frequent_below = 0;
/* scheduling on or paused */
bool		reporting_enabled = true;
/* refresh workers running at once, server-wide */
int			reporting_max_workers = 2;
/* may the scheduler and refresh workers run refreshes as a superuser */
bool		reporting_enable_superuser_refresh = false;

void		_PG_init(void);

/*
 * Register the GUCs.  They are all in the "reporting." namespace, which is
 * then reserved so that a typo such as reporting.histroy_max_age is reported
 * instead of silently creating a placeholder.
 */
void
_PG_init(void)
{
	DefineCustomIntVariable("reporting.history_max_age",
							"How long the history of refreshes (reporting.runs) is kept.",
							"Runs older than this are deleted when views are refreshed.",
							&reporting_history_max_age,
							30 * 24 * 60 * 60,
							60,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("reporting.history_max_runs",
							"Runs kept in reporting.runs per view; older ones are deleted.",
							"0 keeps every run (still bounded by reporting.history_max_age).",
							&reporting_history_max_runs,
							1000, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("reporting.history_frequent_below",
							"Views scheduled more often than this keep only their latest successful refresh in the history.",
							"Their failures and skips are kept.  0 turns this off.",
							&reporting_history_frequent_below,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("reporting.enabled",
							 "Whether the scheduler refreshes registered views on their schedules.",
							 "Off pauses scheduling in every database; manual refreshes and refresh_all still work.",
							 &reporting_enabled,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("reporting.max_workers",
							"Refreshes that background workers run at once, across the server.",
							"Each needs a background worker (max_worker_processes).",
							&reporting_max_workers,
							2, 0, MAX_BACKENDS,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("reporting.enable_superuser_refresh",
							 "Whether views owned by a superuser are refreshed by the scheduler and on behalf of other roles.",
							 "Off: their scheduled refreshes and the refreshes other roles ask for are skipped, since they would run the views' queries as a superuser.  A superuser's own reporting.refresh() and refresh_all() still refresh them.",
							 &reporting_enable_superuser_refresh,
							 false,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	reporting_tracking_init();
	reporting_workers_init();
	reporting_lifecycle_init();

	MarkGUCPrefixReserved("reporting");
}
