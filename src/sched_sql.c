/*-------------------------------------------------------------------------
 *
 * sched_sql.c
 *		The scheduler's SQL entry points: the trigger that tells schedulers
 *		the registrations changed, and the problem that keeps a registration
 *		from being scheduled, for reporting.status.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/rel.h"

#include "reporting.h"
#include "sched_cache.h"

PG_FUNCTION_INFO_V1(reporting_registrations_changed);
PG_FUNCTION_INFO_V1(reporting_schedule_problem);

/*
 * reporting._registrations_changed() RETURNS trigger
 *
 * A statement trigger on reporting.registrations (INSERT, UPDATE, DELETE,
 * TRUNCATE): queue a relcache invalidation of the table, which every
 * scheduler of the database receives once the change commits and takes as
 * the sign to read the registrations again (sched_cache.c).  Row changes
 * send no invalidation by themselves; pg_cron keeps its job cache the same
 * way.  Raises 39P01 when not called as a trigger.
 */
Datum
reporting_registrations_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired as a trigger",
						"reporting._registrations_changed")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

/*
 * reporting._schedule_problem(view regclass) RETURNS text
 *
 * Why the scheduler cannot schedule the view's registration, in the words
 * the scheduler logs (a time zone this server's tzdata lacks, an interval
 * out of range), or NULL when nothing is wrong or it is not registered (or
 * not visible to the caller through row-level security).  Computed here by
 * the scheduler's own code, in the caller's database, so status and the
 * scheduler agree.  STRICT.
 */
Datum
reporting_schedule_problem(PG_FUNCTION_ARGS)
{
	Oid			view = PG_GETARG_OID(0);
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(view)};
	SchedView	v;
	char	   *every = NULL;
	char	   *cron = NULL;
	char	   *timezone = NULL;
	char	   *max_age = NULL;
	bool		found;

	SPI_connect();
	if (SPI_execute_with_args("SELECT every::pg_catalog.text, cron, timezone, max_age::pg_catalog.text"
							  "  FROM reporting.registrations"
							  " WHERE view::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the registration of relation %u", view);
	found = SPI_processed == 1;
	if (found)
	{
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		every = SPI_getvalue(tuple, desc, 1);
		cron = SPI_getvalue(tuple, desc, 2);
		timezone = SPI_getvalue(tuple, desc, 3);
		max_age = SPI_getvalue(tuple, desc, 4);
	}
	SPI_finish();
	if (!found)
		PG_RETURN_NULL();
	memset(&v, 0, sizeof(v));
	sched_parse_registration(&v, every, cron, timezone, max_age);
	if (v.problem[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(v.problem));
}
