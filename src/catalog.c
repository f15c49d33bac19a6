/*-------------------------------------------------------------------------
 *
 * catalog.c
 *		Access to the view being managed and to the extension's own tables.
 *
 * Ordinary users cannot write reporting.registrations or reporting.runs;
 * the SQL-callable functions check what the caller may do first, and then
 * write those tables as the extension's owner.  Every statement this file
 * runs does so with search_path pinned to pg_catalog, pg_temp, so that no
 * object a user creates can stand in for ours.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "incremental.h"
#include "reporting.h"

/*
 * Raise the right error unless relid names a materialized view that the
 * current user may manage: its owner, a member of the owning role, or a
 * superuser.  This is the one gate in front of register, unregister and
 * refresh, so the messages follow PostgreSQL's own for the same mistakes.
 */
void
reporting_check_manageable(Oid relid)
{
	char		relkind;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));

	relkind = get_rel_relkind(relid);
	if (relkind != RELKIND_MATVIEW && !reporting_is_incremental(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a materialized view",
						reporting_display_name(relid)),
				 relkind == RELKIND_VIEW ?
				 errhint("A plain view is computed at every read; create a materialized view to keep its result.") :
				 errhint("Only materialized views can be registered and refreshed.")));

	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_MATVIEW,
					   reporting_display_name(relid));
}

/* pg_class.relispopulated, read without locking the view */
bool
reporting_matview_is_populated(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		populated;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	populated = ((Form_pg_class) GETSTRUCT(tuple))->relispopulated;
	ReleaseSysCache(tuple);
	return populated;
}

/*
 * The schema-qualified name of a relation as messages show it, inside
 * double quotes: "public.daily_revenue".
 */
char *
reporting_display_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));

	if (relname == NULL || nspname == NULL)
		return psprintf("%u", relid);
	return psprintf("%s.%s", nspname, relname);
}

/*
 * The schema-qualified, quoted name of a relation, for messages and for the
 * SQL we build: names with quotes, spaces, capitals or "$" survive intact.
 */
char *
reporting_qualified_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));

	if (relname == NULL || nspname == NULL)
		elog(ERROR, "cache lookup failed for relation %u", relid);
	return quote_qualified_identifier(nspname, relname);
}

/*
 * The role that owns the installed extension.  Catalog writes run as this
 * role, which CREATE EXTENSION requires to be a superuser.
 */
/*
 * The fixed-size fields of the extension's pg_extension row (owner,
 * namespace), or false when it is not installed here.
 */
static bool
load_extension_row(FormData_pg_extension *row)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(REPORTING_EXTENSION_NAME));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	found = HeapTupleIsValid(tuple);
	if (found)
		memcpy(row, GETSTRUCT(tuple), offsetof(FormData_pg_extension, extrelocatable));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

static Oid
extension_owner(void)
{
	FormData_pg_extension row;
	Oid			owner = load_extension_row(&row) ? row.extowner : InvalidOid;

	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"%s\" is not installed", REPORTING_EXTENSION_NAME),
				 errhint("Run CREATE EXTENSION %s in this database.",
						 REPORTING_EXTENSION_NAME)));
	return owner;
}

/*
 * Whether the schema our SQL names as "reporting" can be trusted to be the
 * extension's own.  Every statement the extension runs names its objects
 * "reporting.something", resolved by name; that is safe only while the name
 * leads to the schema recorded in pg_extension.extnamespace (compared by
 * OID), that schema is owned by a superuser, and no other role may create
 * objects in it.  Otherwise another role could rename the schema away and
 * put one of its own in its place (issue 9), and the extension's superuser
 * paths would run that role's objects.
 */
ReportingSchemaProblem
reporting_schema_problem(void)
{
	HeapTuple	tuple;
	Oid			extnamespace = InvalidOid;
	Oid			owner;
	bool		isnull;
	Datum		d;
	ReportingSchemaProblem problem = SCHEMA_TRUSTED;

	{
		FormData_pg_extension row;

		if (load_extension_row(&row))
			extnamespace = row.extnamespace;
	}
	if (!OidIsValid(extnamespace))
		return SCHEMA_NO_EXTENSION;
	if (get_namespace_oid(REPORTING_SCHEMA_NAME, true) != extnamespace)
		return SCHEMA_SWAPPED;

	tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(extnamespace));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for schema %u", extnamespace);
	owner = ((Form_pg_namespace) GETSTRUCT(tuple))->nspowner;
	if (!superuser_arg(owner))
		problem = SCHEMA_NOT_SUPERUSER_OWNED;
	d = SysCacheGetAttr(NAMESPACEOID, tuple, Anum_pg_namespace_nspacl, &isnull);
	if (problem == SCHEMA_TRUSTED && !isnull)
	{
		Acl		   *acl = DatumGetAclP(d);

		for (int i = 0; i < ACL_NUM(acl); i++)
		{
			AclItem    *item = &ACL_DAT(acl)[i];

			if ((ACLITEM_GET_PRIVS(*item) & ACL_CREATE) == 0 ||
				item->ai_grantee == owner)
				continue;
			if (item->ai_grantee == ACL_ID_PUBLIC || !superuser_arg(item->ai_grantee))
			{
				problem = SCHEMA_OPEN_TO_CREATE;
				break;
			}
		}
	}
	ReleaseSysCache(tuple);
	return problem;
}

/*
 * Report, at elevel, that the schema called "reporting" is not one the
 * extension can trust (see reporting_schema_problem); returns true when it
 * can.  With ERROR, as every path that runs the extension's SQL or writes
 * its tables does first (through reporting_pin_search_path), it does not
 * return on a problem.  Raises 42501 (insufficient_privilege), or 55000
 * when the extension is not installed.
 */
bool
reporting_check_schema(int elevel)
{
	switch (reporting_schema_problem())
	{
		case SCHEMA_TRUSTED:
			return true;
		case SCHEMA_NO_EXTENSION:
			ereport(elevel,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension \"%s\" is not installed", REPORTING_EXTENSION_NAME),
					 errhint("Run CREATE EXTENSION %s in this database.",
							 REPORTING_EXTENSION_NAME)));
			break;
		case SCHEMA_SWAPPED:
			ereport(elevel,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("schema \"reporting\" is not the schema extension \"reporting\" was installed in"),
					 errdetail("The extension's schema was renamed, and the schema now called \"reporting\" may hold another role's objects; the extension refuses to use it."),
					 errhint("A superuser must rename the schemas back with ALTER SCHEMA ... RENAME TO.")));
			break;
		case SCHEMA_NOT_SUPERUSER_OWNED:
			ereport(elevel,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("schema \"reporting\" is owned by a role that is not a superuser"),
					 errdetail("The owner of the extension's schema could put objects of its own in place of the extension's, and the extension would run them with its privileges."),
					 errhint("Check that the schema holds nothing a superuser did not create, then run ALTER SCHEMA reporting OWNER TO a superuser.")));
			break;
		case SCHEMA_OPEN_TO_CREATE:
			ereport(elevel,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("roles that are not superusers may create objects in schema \"reporting\""),
					 errdetail("They could put objects of their own where the extension looks for its own, and the extension would run them with its privileges."),
					 errhint("Run REVOKE CREATE ON SCHEMA reporting FROM the roles that hold it (and PUBLIC), after checking what they created there.")));
			break;
	}
	return false;
}

/*
 * Pin search_path for the statements that follow, until the matching
 * reporting_unpin_search_path.  On error, transaction or subtransaction abort
 * restores the caller's value.  First make sure that "reporting" names the
 * extension's own schema, since those statements refer to it by that name.
 */
int
reporting_pin_search_path(void)
{
	int			nestlevel;

	(void) reporting_check_schema(ERROR);
	nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
reporting_unpin_search_path(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Become the extension's owner, with search_path pinned, to read or write the
 * extension's tables on behalf of a caller who was already checked.
 */
int
reporting_enter_catalog_context(int *save_sec_context, Oid *save_userid)
{
	Oid			owner = extension_owner();

	GetUserIdAndSecContext(save_userid, save_sec_context);
	SetUserIdAndSecContext(owner,
						   *save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	return reporting_pin_search_path();
}

void
reporting_leave_catalog_context(int nestlevel, int save_sec_context,
								Oid save_userid)
{
	reporting_unpin_search_path(nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/* an interval as a whole number of milliseconds, at least 1 */
static int64
interval_datum_ms(Datum d)
{
	int64		usecs = reporting_interval_usecs(DatumGetIntervalP(d));

	return Max(1, (usecs + 999) / 1000);
}

/*
 * Read a view's registration.  Returns false when it is not registered.
 */
bool
reporting_load_registration(Oid relid, ReportingRegistration *reg)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;
	bool		found;

	/* the registered owner is recorded from 0.4.0 on */
	bool		has_owner = reporting_extension_at_least(REPORTING_SECURITY_MIN_VERSION);

	SPI_connect();
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	if (SPI_execute_with_args(has_owner ?
							  "SELECT mode, lock_timeout, statement_timeout, owner::pg_catalog.oid"
							  " FROM reporting.registrations"
							  " WHERE view OPERATOR(pg_catalog.=) $1" :
							  "SELECT mode, lock_timeout, statement_timeout"
							  " FROM reporting.registrations"
							  " WHERE view OPERATOR(pg_catalog.=) $1",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read registration of relation %u", relid);
	found = (SPI_processed == 1);
	if (found)
	{
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;
		char	   *mode = SPI_getvalue(tuple, desc, 1);

		memset(reg, 0, sizeof(*reg));
		reg->view = relid;
		strlcpy(reg->mode, mode, sizeof(reg->mode));
		d = SPI_getbinval(tuple, desc, 2, &isnull);
		reg->lock_timeout_ms = isnull ? 0 : interval_datum_ms(d);
		d = SPI_getbinval(tuple, desc, 3, &isnull);
		reg->statement_timeout_ms = isnull ? 0 : interval_datum_ms(d);
		if (has_owner)
		{
			d = SPI_getbinval(tuple, desc, 4, &isnull);
			reg->owner = isnull ? InvalidOid : DatumGetObjectId(d);
		}
	}
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	SPI_finish();
	return found;
}

/*
 * Read a view's registration, raising an error that says how to register it
 * when there is none.
 */
void
reporting_require_registration(Oid relid, ReportingRegistration *reg)
{
	if (!reporting_load_registration(relid, reg))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("materialized view \"%s\" is not registered",
						reporting_display_name(relid)),
				 errhint("Register it first with reporting.register().")));
}

/* The role that owns a relation; raises an internal error when it is gone. */
Oid
reporting_owner_of(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * The owner of a relation, and whether that role may log in (a background
 * worker can connect only as a role with LOGIN).
 */
Oid
reporting_relation_owner(Oid relid, bool *can_login)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);

	tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(owner));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for role %u", owner);
	*can_login = ((Form_pg_authid) GETSTRUCT(tuple))->rolcanlogin;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * True when the extension's SQL objects in this database are at version
 * "version" or later.  A newer library keeps working with older SQL objects
 * until ALTER EXTENSION reporting UPDATE runs, using only what they have.
 */
bool
reporting_extension_at_least(const char *version)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		result = false;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(REPORTING_EXTENSION_NAME));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		result = !isnull && strverscmp(TextDatumGetCString(d), version) >= 0;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}
