/*-------------------------------------------------------------------------
 *
 * incremental_create.c
 *		The start of an incremental report's capture: what create_incremental
 *		needs to be exact without making the fact table's writers wait.
 *
 * reporting.create_incremental (SQL) fills the new report by a first
 * refresh and only then puts the capture triggers on the fact table: the
 * fill reads the fact table (ACCESS SHARE, which writers do not conflict
 * with), and CREATE TRIGGER, which does conflict with them, comes last.  A
 * write that commits after the fill's snapshot and before the triggers exist
 * is in neither.  The change generations of tracking.c tell: the fill
 * recorded the generation of every table of the fact table's family before
 * its snapshot (reporting.runs); CREATE TRIGGER waits until every
 * transaction that wrote the fact table has ended, and a commit bumps the
 * generations before it releases its locks; so, once the triggers exist,
 * generations equal to the recorded ones prove that nothing committed in
 * between.  Otherwise (or when the generations are unknown) the report is
 * marked so that its next refresh recomputes everything, with the reason
 * (reporting.incrementals.next_full_reason, then last_full_reason and the
 * run's mode "full").
 *
 * The fingerprint of the relations the query reads is recorded again once
 * the triggers exist (creating them changed the fact table's catalog rows).
 * No DDL that the fingerprint stands for can have committed since the fill:
 * the fill holds ACCESS SHARE on every relation it read until this
 * transaction ends; ATTACH PARTITION, which does not conflict with it,
 * bumps the generations.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "incremental.h"

PG_FUNCTION_INFO_V1(reporting_note_population_gap);

/*
 * reporting._note_population_gap(report regclass) RETURNS text
 *
 * For create_incremental, once the capture triggers are on the fact table
 * (in the same transaction, which holds their lock): record in
 * reporting.incrementals.next_full_reason why writes may have committed
 * between the report's first refresh and the triggers
 * (reporting._population_gap), or NULL when the change generations prove
 * that none did, and the fingerprint of what the query reads, now that the
 * triggers are part of it.  Returns that reason.  Runs the update as the extension's
 * owner, for the report's owner only: raises 42501 for anyone else and
 * 55000 for a table that is not an incremental report.
 */
Datum
reporting_note_population_gap(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;
	uint64		rows;
	char	   *reason = NULL;

	if (get_rel_relkind(relid) != RELKIND_RELATION ||
		!pg_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table \"%s\"",
						reporting_display_name(relid))));
	SPI_connect();
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	if (SPI_execute_with_args("UPDATE reporting.incrementals"
							  " SET next_full_reason = reporting._population_gap(report),"
							  "     fingerprint = reporting._incremental_fingerprint(report)"
							  " WHERE report OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
							  " RETURNING next_full_reason",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not update reporting.incrementals");
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	rows = SPI_processed;
	if (rows == 1)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (value != NULL)
		{
			reason = SPI_palloc(strlen(value) + 1);
			strcpy(reason, value);
		}
	}
	SPI_finish();
	if (rows != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not an incremental report",
						reporting_display_name(relid))));
	if (reason == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(reason));
}
