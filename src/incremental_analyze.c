/*-------------------------------------------------------------------------
 *
 * incremental_analyze.c
 *		What create_incremental learns from an incremental report's query
 *		before anything is created: the relations it reads, whether it uses
 *		both parameters, its output columns, and whether its rows can be
 *		kept bucket by bucket at all.
 *
 * The query is prepared with its two parameters of the time column's type
 * (SPI_prepare, as the caller) and its analyzed tree walked.  A query whose
 * rows depend on anything but the rows it reads (the clock, volatile
 * functions, sequences, functions that are not immutable: dependencies.c,
 * and date or time literals such as 'now', which analysis turns into
 * constants of the moment but which are read again at every refresh) is
 * refused: recomputing only the buckets whose fact rows changed could never
 * catch up with it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/ruleutils.h"

#include "incremental.h"

PG_FUNCTION_INFO_V1(reporting_analyze_incremental);

/* what a walk over the query found */
typedef struct AnalyzeWalk
{
	List	   *relids;
	bool		param1;
	bool		param2;
} AnalyzeWalk;

/*
 * Refuse a query whose rows do not depend on its tables' rows alone (the
 * clock, volatile functions, sequences, functions that may read other
 * tables: dependencies.c): recomputing only the buckets whose fact rows
 * changed could never catch up with it.  Raises 0A000.
 */
static void
check_query_dependencies(Query *query)
{
	List	   *objects;
	List	   *kinds = reporting_query_tree_dependencies(query, &objects);
	const char *kind;
	const char *what;

	if (kinds == NIL)
		return;
	kind = linitial(kinds);
	if (strcmp(kind, "clock_date") == 0 || strcmp(kind, "clock_time") == 0)
		what = "the clock";
	else if (strcmp(kind, "volatile") == 0)
		what = "a volatile function";
	else if (strcmp(kind, "sequence") == 0)
		what = "a sequence";
	else if (strcmp(kind, "function") == 0)
		what = "a function that is not immutable";
	else if (strcmp(kind, "catalog") == 0)
		what = "a system catalog";
	else if (strcmp(kind, "text_search") == 0)
		what = "a text search configuration";
	else
		what = "the session";
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("the query of an incremental report cannot depend on %s (%s)",
					what, (char *) linitial(objects)),
			 errdetail("An incremental report recomputes only the buckets whose fact rows changed, so its rows must depend on the rows its query reads alone."),
			 strcmp(kind, "function") == 0 ?
			 errhint("Declare the function IMMUTABLE if its result depends on its arguments alone.") :
			 errhint("Keep it out of the report: apply it in a view or materialized view that reads the report.")));
}

/*
 * True for a string constant that a date or time input reads as the clock
 * ('now', 'today', 'tomorrow', 'yesterday', alone or with a time): parse
 * analysis turns it into a constant of the moment, so the analyzed query
 * shows no dependency, but the query's text is parsed again at every
 * refresh.  Looked for in the raw parse tree.
 */
static bool
clock_literal_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, A_Const) && !((A_Const *) node)->isnull &&
		IsA(&((A_Const *) node)->val, String))
	{
		static const char *const words[] = {"now", "today", "tomorrow", "yesterday", NULL};
		char	   *text = asc_tolower(strVal(&((A_Const *) node)->val),
									   strlen(strVal(&((A_Const *) node)->val)));
		char	   *save;

		for (char *token = strtok_r(text, " \t\n\r", &save); token != NULL;
			 token = strtok_r(NULL, " \t\n\r", &save))
			for (int i = 0; words[i] != NULL; i++)
				if (strcmp(token, words[i]) == 0)
				{
					*(const char **) context = words[i];
					return true;
				}
		return false;
	}
	return raw_expression_tree_walker(node, clock_literal_walker, context);
}

/* Refuse a query with a clock literal (see clock_literal_walker); 0A000. */
static void
check_clock_literals(const char *query)
{
	List	   *raw = raw_parser(query, RAW_PARSE_DEFAULT);
	ListCell   *lc;
	const char *word = NULL;

	foreach(lc, raw)
		if (clock_literal_walker(((RawStmt *) lfirst(lc))->stmt, &word))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the query of an incremental report cannot depend on the clock ('%s')", word),
					 errdetail("A date or time written '%s' is read when the query is parsed, at every refresh.", word),
					 errhint("Keep it out of the report: apply it in a view or materialized view that reads the report.")));
}

/* Note relations and the two parameters, through subqueries and sublinks. */
static bool
analyze_walker(Node *node, AnalyzeWalk *walk)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, analyze_walker, walk,
								 QTW_EXAMINE_RTES_BEFORE);
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION)
			walk->relids = list_append_unique_oid(walk->relids, rte->relid);
		return false;
	}
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXTERN)
	{
		if (((Param *) node)->paramid == 1)
			walk->param1 = true;
		if (((Param *) node)->paramid == 2)
			walk->param2 = true;
		return false;
	}
	return expression_tree_walker(node, analyze_walker, walk);
}

/*
 * reporting._analyze_incremental(query text, time_type regtype)
 *		RETURNS TABLE(relations regclass[], uses_range bool,
 *					  column_names text[], column_types text[])
 *
 * What create_incremental needs to know of a query with $1 and $2 of
 * time_type: every relation it reads, views expanded (the views too), whether
 * it uses both parameters, and its output columns with their types (as
 * format_type prints them, with a COLLATE clause when not the type's
 * default).  Parsing is done as the caller.  Raises what parsing raises
 * (42601, 42P01, 42P18, ...) and 42P10 for a query that returns no columns.
 */
Datum
reporting_analyze_incremental(PG_FUNCTION_ARGS)
{
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			types[2];
	SPIPlanPtr	plan;
	List	   *sources;
	ListCell   *lc;
	AnalyzeWalk walk = {NIL, false, false};
	TupleDesc	result = NULL;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	Datum	   *rels,
			   *names,
			   *typs;
	int			i;

	types[0] = types[1] = PG_GETARG_OID(1);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	SPI_connect();
	plan = SPI_prepare(query, 2, types);
	if (plan != NULL)
		check_clock_literals(query);
	if (plan == NULL)
		elog(ERROR, "could not prepare the query: %s", SPI_result_code_string(SPI_result));
	sources = SPI_plan_get_plan_sources(plan);
	foreach(lc, sources)
	{
		CachedPlanSource *ps = (CachedPlanSource *) lfirst(lc);
		ListCell   *lq;

		if (ps->resultDesc)
			result = CreateTupleDescCopy(ps->resultDesc);
		foreach(lq, ps->query_list)
		{
			(void) analyze_walker((Node *) lfirst(lq), &walk);
			if (IsA(lfirst(lq), Query))
				check_query_dependencies((Query *) lfirst(lq));
		}
	}
	if (list_length(sources) != 1 || result == NULL || result->natts == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("the query of an incremental report must be one SELECT that returns columns")));

	rels = palloc(sizeof(Datum) * Max(1, list_length(walk.relids)));
	i = 0;
	foreach(lc, walk.relids)
		rels[i++] = ObjectIdGetDatum(lfirst_oid(lc));
	names = palloc(sizeof(Datum) * result->natts);
	typs = palloc(sizeof(Datum) * result->natts);
	for (i = 0; i < result->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(result, i);
		char	   *type = format_type_with_typemod(att->atttypid, att->atttypmod);

		if (OidIsValid(att->attcollation) &&
			att->attcollation != get_typcollation(att->atttypid))
			type = psprintf("%s COLLATE %s", type,
							generate_collation_name(att->attcollation));
		names[i] = CStringGetTextDatum(NameStr(att->attname));
		typs[i] = CStringGetTextDatum(type);
	}
	SPI_finish();

	values[0] = PointerGetDatum(construct_array(rels, list_length(walk.relids),
												REGCLASSOID, sizeof(Oid), true,
												TYPALIGN_INT));
	values[1] = BoolGetDatum(walk.param1 && walk.param2);
	values[2] = PointerGetDatum(construct_array(names, result->natts, TEXTOID,
												-1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(typs, result->natts, TEXTOID,
												-1, false, TYPALIGN_INT));
	tupdesc = BlessTupleDesc(tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
