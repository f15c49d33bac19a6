/*-------------------------------------------------------------------------
 *
 * security.c
 *		Who a refresh may run as, and who may ask for one: the rules that keep
 *		the extension from being a path to superuser (issue 9), and delegated
 *		refresh (reporting.grant_refresh, reporting.revoke_refresh).
 *
 * A refresh always runs the view's query as the view's owner.  So:
 *
 *	- a refresh that would run as a superuser goes ahead only when a
 *	  superuser asked for it (reporting.refresh() or refresh_all() called by
 *	  a superuser: that superuser's own act), or when the server-level
 *	  setting reporting.enable_superuser_refresh is on.  The scheduler asks
 *	  on nobody's behalf, so it never refreshes a superuser's view unless
 *	  the setting is on; neither does a refresh another role asks for
 *	  (a member of the owning role, a role granted the refresh);
 *	- a registration records the view's owner; when the view changes hands
 *	  afterwards (ALTER ... OWNER TO, REASSIGN OWNED), the scheduler and
 *	  refresh_all() stop refreshing it until it is registered again, and
 *	  the refresh grants its old owner gave no longer count;
 *	- a view's owner may let another role refresh it without making that
 *	  role a member of the owning role (which would also let it drop the
 *	  view): PostgreSQL 15 has no MAINTAIN privilege, so the extension keeps
 *	  such grants in reporting.refresh_grants.
 *
 * Each check is made again after the refresh has locked the view, so an
 * owner change cannot slip in between the check and the REFRESH.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "incremental.h"
#include "reporting.h"

PG_FUNCTION_INFO_V1(reporting_grant_refresh);
PG_FUNCTION_INFO_V1(reporting_revoke_refresh);
PG_FUNCTION_INFO_V1(reporting_refresh_blocked);
PG_FUNCTION_INFO_V1(reporting_lock_out_scheduler);

/* a role's name for messages, or its OID when it no longer exists */
static char *
role_name(Oid roleid)
{
	char	   *name = GetUserNameFromId(roleid, true);

	return name != NULL ? name : psprintf("%u", roleid);
}

/*
 * Whether a refresh of relid must not run, and why.  registered_owner is the
 * owner recorded at registration (InvalidOid when unknown: SQL objects older
 * than 0.4.0); requester the role that asked for the refresh (InvalidOid for
 * the scheduler, which asks on nobody's behalf); manual is true for an
 * explicit reporting.refresh() of this one view, which its owner (or a
 * member of the owning role, or a superuser) may make even after the view
 * changed hands.  *owner receives the view's current owner.
 */
ReportingRefusal
reporting_refresh_refusal(Oid relid, Oid registered_owner, Oid requester,
						  bool manual, Oid *owner)
{
	*owner = reporting_owner_of(relid);
	if (!manual && OidIsValid(registered_owner) && registered_owner != *owner)
		return REFUSED_OWNER_CHANGED;
	if (superuser_arg(*owner) && !reporting_enable_superuser_refresh &&
		!(OidIsValid(requester) && superuser_arg(requester)))
		return REFUSED_SUPERUSER_OWNER;
	return REFRESH_ALLOWED;
}

/*
 * The refusal as two sentences, for the history (a skipped run's error),
 * for reporting.status and for refresh_all()'s result: *reason says why,
 * *hint what to do.  Returns false when the refresh may run.
 */
bool
reporting_refresh_refused(Oid relid, Oid registered_owner, Oid requester,
						  bool manual, char **reason, char **hint)
{
	Oid			owner;

	switch (reporting_refresh_refusal(relid, registered_owner, requester, manual, &owner))
	{
		case REFRESH_ALLOWED:
			return false;
		case REFUSED_OWNER_CHANGED:
			*reason = psprintf("the owner of the materialized view changed from \"%s\" to \"%s\" after it was registered",
							   role_name(registered_owner), role_name(owner));
			*hint = psprintf("Scheduled refreshes and refresh_all() resume once the view is registered again by its new owner \"%s\" (or a superuser) with reporting.register().",
							 role_name(owner));
			break;
		case REFUSED_SUPERUSER_OWNER:
			*reason = psprintf("the materialized view is owned by superuser \"%s\", and reporting.enable_superuser_refresh is off",
							   role_name(owner));
			*hint = pstrdup("Its query would run as a superuser: give the view an owner that is not a superuser and register it again, refresh it yourself as a superuser, or have a superuser turn reporting.enable_superuser_refresh on.");
			break;
	}
	return true;
}

/*
 * Raise 42501 when a refresh of relid must not run (see
 * reporting_refresh_refusal).  Called by every refresh once it holds the
 * view's lock, so that what is checked is what runs.
 */
void
reporting_check_refresh_allowed(Oid relid, Oid registered_owner, Oid requester,
								bool manual)
{
	Oid			owner;

	switch (reporting_refresh_refusal(relid, registered_owner, requester, manual, &owner))
	{
		case REFRESH_ALLOWED:
			break;
		case REFUSED_OWNER_CHANGED:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("materialized view \"%s\" changed owner from \"%s\" to \"%s\" after it was registered",
							reporting_display_name(relid), role_name(registered_owner),
							role_name(owner)),
					 errdetail("Only an explicit reporting.refresh() by its owner refreshes it until it is registered again."),
					 errhint("Register it again as its new owner with reporting.register().")));
			break;
		case REFUSED_SUPERUSER_OWNER:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot refresh materialized view \"%s\" as superuser \"%s\"",
							reporting_display_name(relid), role_name(owner)),
					 errdetail("Its query runs as its owner, a superuser; only a superuser may ask for that while reporting.enable_superuser_refresh is off."),
					 errhint("Give the view an owner that is not a superuser and register it again, or have a superuser turn reporting.enable_superuser_refresh on.")));
			break;
	}
}

/*
 * True when roleid (or a role whose privileges it has) holds a refresh grant
 * on relid that still counts: given by the view's current owner, on a
 * registration made by that owner.  Read as the extension's owner; false
 * before 0.4.0.
 */
static bool
has_refresh_grant(Oid relid, Oid roleid)
{
	Oid			argtypes[3] = {REGCLASSOID, OIDOID, OIDOID};
	Datum		values[3];
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;
	bool		found;

	if (!reporting_extension_at_least(REPORTING_SECURITY_MIN_VERSION))
		return false;
	/* the owner now, from the syscache: the query's snapshot may be older */
	values[0] = ObjectIdGetDatum(relid);
	values[1] = ObjectIdGetDatum(roleid);
	values[2] = ObjectIdGetDatum(reporting_owner_of(relid));
	SPI_connect();
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	if (SPI_execute_with_args("SELECT 1 FROM reporting.refresh_grants g"
							  " JOIN reporting.registrations r ON r.view OPERATOR(pg_catalog.=) g.view"
							  " WHERE g.view OPERATOR(pg_catalog.=) $1"
							  "   AND g.granted_by::pg_catalog.oid OPERATOR(pg_catalog.=) $3"
							  "   AND r.owner::pg_catalog.oid OPERATOR(pg_catalog.=) $3"
							  "   AND pg_catalog.pg_has_role($2, g.grantee::pg_catalog.oid, 'USAGE')",
							  3, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the refresh grants of relation %u", relid);
	found = SPI_processed > 0;
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	SPI_finish();
	return found;
}

/*
 * Raise the right error unless the current user may ask for a refresh of
 * relid: whoever may manage it (reporting_check_manageable), or a role the
 * view's owner granted the refresh with reporting.grant_refresh().
 */
void
reporting_check_refreshable(Oid relid)
{
	if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)) &&
		(get_rel_relkind(relid) == RELKIND_MATVIEW || reporting_is_incremental(relid)) &&
		!pg_class_ownercheck(relid, GetUserId()) &&
		has_refresh_grant(relid, GetUserId()))
		return;
	reporting_check_manageable(relid);
}

/*
 * The checks grant_refresh and revoke_refresh share: both arguments given,
 * a materialized view the caller owns (or whose owning role it is a member
 * of, or a superuser), on SQL objects that know about grants.
 */
static void
check_grant_arguments(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("\"%s\" must not be null", PG_ARGISNULL(0) ? "view" : "role")));
	reporting_check_manageable(PG_GETARG_OID(0));
	if (!reporting_extension_at_least(REPORTING_SECURITY_MIN_VERSION))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("delegated refresh needs version %s of the extension's SQL objects",
						REPORTING_SECURITY_MIN_VERSION),
				 errhint("Run ALTER EXTENSION reporting UPDATE.")));
}

/*
 * reporting.grant_refresh(view regclass, role regrole) RETURNS void
 *
 * Let role (and the roles that have its privileges) ask for refreshes of
 * view with reporting.refresh(), and include it in their refresh_all(); the
 * refresh still runs as the view's owner.  Only the view's owner (a member
 * of the owning role, a superuser) may grant it, on a view registered by
 * its current owner.  Granting again updates who granted it and when.
 *
 * Raises 22004 (an argument is NULL), 42P01 (no such relation), 42809 (not
 * a materialized view), 42501 (not the view's owner), 42704 (the view is
 * not registered), 55000 (the view changed hands since it was registered,
 * or the SQL objects are older than 0.4.0).
 */
Datum
reporting_grant_refresh(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			grantee;
	ReportingRegistration reg;
	Oid			argtypes[3] = {REGCLASSOID, REGROLEOID, REGROLEOID};
	Datum		values[3];
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;

	check_grant_arguments(fcinfo);
	relid = PG_GETARG_OID(0);
	grantee = PG_GETARG_OID(1);
	/* a regrole built from a number need not name a role */
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(grantee)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", grantee)));
	reporting_require_registration(relid, &reg);
	if (reg.owner != reporting_owner_of(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("materialized view \"%s\" changed owner after it was registered",
						reporting_display_name(relid)),
				 errhint("Register it again as its new owner with reporting.register(), then grant the refresh.")));

	values[0] = ObjectIdGetDatum(relid);
	values[1] = ObjectIdGetDatum(grantee);
	values[2] = ObjectIdGetDatum(reg.owner);
	SPI_connect();
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	if (SPI_execute_with_args("INSERT INTO reporting.refresh_grants AS g (view, grantee, granted_by)"
							  " VALUES ($1, $2, $3)"
							  " ON CONFLICT (view, grantee) DO UPDATE SET"
							  " granted_by = excluded.granted_by, granted_at = pg_catalog.now()",
							  3, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store the refresh grant");
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * reporting.revoke_refresh(view regclass, role regrole) RETURNS void
 *
 * Take back what grant_refresh gave.  Only the view's owner (a member of
 * the owning role, a superuser) may, whether or not the view is still
 * registered by that owner; revoking what was never granted only says so
 * (NOTICE), like REVOKE.
 *
 * Raises 22004, 42P01, 42809, 42501 and 55000 as grant_refresh does.
 */
Datum
reporting_revoke_refresh(PG_FUNCTION_ARGS)
{
	Oid			argtypes[2] = {REGCLASSOID, REGROLEOID};
	Datum		values[2];
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;
	uint64		deleted;

	check_grant_arguments(fcinfo);
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);
	SPI_connect();
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	if (SPI_execute_with_args("DELETE FROM reporting.refresh_grants"
							  " WHERE view OPERATOR(pg_catalog.=) $1"
							  "   AND grantee OPERATOR(pg_catalog.=) $2",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete the refresh grant");
	deleted = SPI_processed;
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	SPI_finish();
	if (deleted == 0)
		ereport(NOTICE,
				(errmsg("role \"%s\" has no refresh grant on materialized view \"%s\"",
						role_name(PG_GETARG_OID(1)),
						reporting_display_name(PG_GETARG_OID(0)))));
	PG_RETURN_VOID();
}

/*
 * reporting._refresh_blocked(view regclass, registered_owner regrole,
 *		OUT reason text, OUT hint text) RETURNS record
 *
 * For reporting.status: why the scheduler (and refresh_all() called by a
 * role that is not a superuser) will not refresh the view, and what to do;
 * NULLs when it will.  The registered owner comes from the caller's row of
 * reporting.registrations, so nothing is read that row-level security hides.
 * NULL when the view no longer exists.
 */
Datum
reporting_refresh_blocked(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {true, true};
	char	   *reason;
	char	   *hint;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (!PG_ARGISNULL(0) &&
		SearchSysCacheExists1(RELOID, PG_GETARG_DATUM(0)) &&
		reporting_refresh_refused(PG_GETARG_OID(0),
								  PG_ARGISNULL(1) ? InvalidOid : PG_GETARG_OID(1),
								  InvalidOid, false, &reason, &hint))
	{
		values[0] = CStringGetTextDatum(reason);
		values[1] = CStringGetTextDatum(hint);
		nulls[0] = nulls[1] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * reporting._lock_out_scheduler() RETURNS void
 *
 * For upgrade scripts: lock the extension object in ACCESS EXCLUSIVE mode
 * until the end of the transaction.  The scheduler takes that lock (shared)
 * first in each cycle, before it reads or writes the extension's tables, in
 * one order or the other (runs then registrations when it prunes,
 * registrations then runs when it records a skip); an upgrade that altered
 * both tables while a cycle ran could deadlock with it.  With this lock the
 * cycle either finishes first or waits for the upgrade to commit.  Raises
 * 55000 when the extension is not installed.
 */
Datum
reporting_lock_out_scheduler(PG_FUNCTION_ARGS)
{
	Oid			extoid = get_extension_oid(REPORTING_EXTENSION_NAME, true);

	if (!OidIsValid(extoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"%s\" is not installed", REPORTING_EXTENSION_NAME)));
	LockDatabaseObject(ExtensionRelationId, extoid, 0, AccessExclusiveLock);
	PG_RETURN_VOID();
}
