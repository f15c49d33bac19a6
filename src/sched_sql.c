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
#include "funcapi.h"
#include "access/htup_details.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/rel.h"

#include "reporting.h"
#include "sched_cache.h"

PG_FUNCTION_INFO_V1(reporting_registrations_changed);
PG_FUNCTION_INFO_V1(reporting_schedule_problem);
PG_FUNCTION_INFO_V1(reporting_next_refresh);

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
 * Read the view's registration into v (its schedule parsed, or its problem);
 * false when it is not registered (or not visible to the caller).  SPI must
 * be connected.
 */
static bool
read_registration(Oid view, SchedView *v)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(view)};
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	memset(v, 0, sizeof(*v));
	v->view = view;
	if (SPI_execute_with_args("SELECT every::pg_catalog.text, cron, timezone, max_age::pg_catalog.text,"
							  "       registered_at, refresh_requested_at"
							  "  FROM reporting.registrations"
							  " WHERE view::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the registration of relation %u", view);
	if (SPI_processed != 1)
		return false;
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	v->registered_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 5, &isnull));
	d = SPI_getbinval(tuple, desc, 6, &isnull);
	v->refresh_requested_at = isnull ? 0 : DatumGetTimestampTz(d);
	sched_parse_registration(v, SPI_getvalue(tuple, desc, 1), SPI_getvalue(tuple, desc, 2),
							 SPI_getvalue(tuple, desc, 3), SPI_getvalue(tuple, desc, 4));
	return true;
}

/*
 * reporting._next_refresh(view regclass) RETURNS TABLE (next_refresh_at
 *		timestamptz, consecutive_failures int4, retry_at timestamptz)
 *
 * When the scheduler refreshes the view next, computed by the scheduler's
 * own rules (decide.c, sched_next_due), its failures since the last
 * successful refresh, and, after failures, when it retries.  No row for a
 * view that is not registered, refreshed only by hand, or whose
 * registration cannot be scheduled (reporting._schedule_problem says why):
 * never an error, so that one registration cannot break reporting.status
 * for everyone (issue 12, fault 14).  Replaces the plpgsql version of
 * 0.3.0, which could disagree with the scheduler.  STRICT.
 */
Datum
reporting_next_refresh(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SchedView	v;
	TimestampTz due = DT_NOEND;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	if (read_registration(PG_GETARG_OID(0), &v))
	{
		sched_read_runs(&v);
		due = sched_next_due(&v);
	}
	SPI_finish();
	if (due == DT_NOEND)
		return (Datum) 0;
	values[0] = TimestampTzGetDatum(due);
	values[1] = Int32GetDatum(v.failures);
	values[2] = TimestampTzGetDatum(due);
	/* retry_at only while failures decide the time */
	nulls[2] = v.failures == 0 ||
		(v.refresh_requested_at != 0 && due == v.refresh_requested_at);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
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
	SchedView	v;
	bool		found;

	SPI_connect();
	found = read_registration(PG_GETARG_OID(0), &v);
	SPI_finish();
	if (!found || v.problem[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(v.problem));
}
