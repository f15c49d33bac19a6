/*-------------------------------------------------------------------------
 *
 * redefine.c
 *		What reporting.redefine() (SQL, in the upgrade script) needs from
 *		the parser: that the new query of a report is one query, and nothing
 *		else to run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(reporting_query_problem);

/*
 * reporting._query_problem(query text) RETURNS text
 *		NULL when "CREATE MATERIALIZED VIEW v AS <query>" is one statement
 *		that builds the view with data: query is exactly one SELECT (VALUES,
 *		WITH ... SELECT, TABLE included).  Otherwise why not: "holds 3
 *		statements", "is a SELECT INTO statement", "leaves the view
 *		unpopulated (WITH NO DATA)".  Parsed as the statement redefine()
 *		runs, so that a comment or a semicolon in query cannot change what
 *		that statement is.  A query that does not parse raises the parser's
 *		syntax error (42601).  STRICT.
 */
Datum
reporting_query_problem(PG_FUNCTION_ARGS)
{
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *stmts = raw_parser(psprintf("CREATE MATERIALIZED VIEW reporting_query_check AS %s", query),
								   RAW_PARSE_DEFAULT);
	RawStmt    *raw;
	CreateTableAsStmt *ctas;

	if (list_length(stmts) != 1)
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("holds %d statements",
												  list_length(stmts))));
	raw = linitial_node(RawStmt, stmts);
	if (!IsA(raw->stmt, CreateTableAsStmt) ||
		((CreateTableAsStmt *) raw->stmt)->objtype != OBJECT_MATVIEW)
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("is a %s statement",
												  GetCommandTagName(CreateCommandTag(raw->stmt)))));
	ctas = (CreateTableAsStmt *) raw->stmt;
	if (!IsA(ctas->query, SelectStmt))
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("is a %s statement",
												  GetCommandTagName(CreateCommandTag(ctas->query)))));
	if (((SelectStmt *) ctas->query)->intoClause != NULL)
		PG_RETURN_TEXT_P(cstring_to_text("is a SELECT INTO statement"));
	if (ctas->into->skipData)
		PG_RETURN_TEXT_P(cstring_to_text("leaves the view unpopulated (WITH NO DATA)"));
	PG_RETURN_NULL();
}
