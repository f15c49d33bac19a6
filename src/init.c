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
#include "utils/guc.h"

#include "reporting.h"

PG_MODULE_MAGIC;

/* how long the history of refreshes is kept, in seconds */
int			reporting_history_max_age = 30 * 24 * 60 * 60;

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

	reporting_tracking_init();

	MarkGUCPrefixReserved("reporting");
}
