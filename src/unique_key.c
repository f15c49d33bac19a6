/*-------------------------------------------------------------------------
 *
 * unique_key.c
 *		Rows with NULL in a view's unique key: every REFRESH ... CONCURRENTLY
 *		deletes and re-inserts them, because NULL never equals NULL in the
 *		comparison it makes.  Said when a populated view is registered
 *		(register.c) and after the refresh that first populates a view
 *		(refresh.c), so that a view registered empty is not missed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"

#include "reporting.h"
#include "unique_key.h"

/*
 * "col IS NULL OR ..." over the key columns of every usable unique index of
 * relid (valid, immediate, plain columns, no WHERE clause), or NULL when it
 * has none.  Caller is connected to SPI.
 */
static char *
null_key_condition(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	if (SPI_execute_with_args("SELECT pg_catalog.string_agg(DISTINCT pg_catalog.quote_ident(a.attname::text)"
							  "   OPERATOR(pg_catalog.||) ' IS NULL', ' OR ')"
							  " FROM pg_catalog.pg_index i"
							  " JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid"
							  "  AND a.attnum OPERATOR(pg_catalog.=) ANY (i.indkey::pg_catalog.int2[])"
							  " WHERE i.indrelid OPERATOR(pg_catalog.=) $1"
							  " AND i.indisunique AND i.indisvalid AND i.indimmediate"
							  " AND i.indpred IS NULL AND i.indexprs IS NULL",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read unique keys of relation %u", relid);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * WARNING when the populated view relid has a row with NULL in a column of
 * a usable unique key.  The view is read as owner (the caller may be a
 * refresh grantee or a refresh worker).  Nothing when the view has no
 * usable unique index or is not populated.  Errors: none of its own.
 */
void
reporting_warn_null_keys(Oid relid, Oid owner)
{
	char	   *condition;
	bool		found = false;
	Oid			save_userid;
	int			save_sec_context;

	if (!reporting_matview_is_populated(relid))
		return;
	SPI_connect();
	condition = null_key_condition(relid);
	if (condition != NULL)
	{
		GetUserIdAndSecContext(&save_userid, &save_sec_context);
		SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		if (SPI_execute(psprintf("SELECT 1 FROM %s WHERE %s LIMIT 1",
								 reporting_qualified_name(relid), condition),
						true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not check unique keys of relation %u", relid);
		found = SPI_processed > 0;
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	SPI_finish();
	if (found)
		ereport(WARNING,
				(errmsg("materialized view \"%s\" has rows with NULL in its unique key",
						reporting_display_name(relid)),
				 errdetail("Every concurrent refresh deletes and re-inserts such rows, writing them to WAL again each time."),
				 errhint("Make the key columns non-null in the view's query, for example with coalesce(), or filter those rows out.")));
}
