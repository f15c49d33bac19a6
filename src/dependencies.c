/*-------------------------------------------------------------------------
 *
 * dependencies.c
 *		What a view's query depends on that pg_depend does not show: the
 *		clock, and functions, sequences and text-search configurations
 *		whose inputs change without any table the catalog links to it.
 *
 * The query of a materialized view (and of every plain view it reads, at
 * any depth) is read from its _RETURN rule in pg_rewrite, without locking
 * any relation (a plain REFRESH in progress holds an ACCESS EXCLUSIVE lock
 * on the view; status must not wait for it), and walked:
 *	- CURRENT_DATE is "clock_date": the result changes when the date does;
 *	- CURRENT_TIME[STAMP], LOCALTIME[STAMP], now(), statement_timestamp(),
 *	  transaction_timestamp(), clock_timestamp() and timeofday() are
 *	  "clock_time": the result can change at any moment;
 *	- other volatile built-in functions (random(), gen_random_uuid()) are
 *	  "volatile": the result changes at every run;
 *	- nextval() and friends are "sequence";
 *	- the text-search functions taking a configuration are "text_search"
 *	  (ALTER TEXT SEARCH CONFIGURATION changes their results);
 *	- a function outside pg_catalog that is not immutable is "function": it
 *	  may read tables the catalog does not link to the view; so are the
 *	  built-in *_to_xml functions, which read the tables they are given;
 *	- a system catalog read directly is "catalog" (pg_depend does not link
 *	  pinned catalogs to views, and they change without the executor);
 *	- SESSION_USER and current_setting() are "session": they differ with
 *	  who refreshes (a worker connects as the owner);
 *	- text read as a date or time ('now'::text::timestamptz) is
 *	  "clock_time", and age() of one argument "clock_date";
 *	- TABLESAMPLE without REPEATABLE is "volatile".
 * Stable built-in functions (casts and formatting that depend on TimeZone,
 * DateStyle, lc_time) are not listed: a refresh runs them with the owner's
 * settings (settings.c).  Materialized views read are not looked into: their
 * own freshness is judged separately and passed on (transitive freshness).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_rewrite.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/nodeFuncs.h"
#include "nodes/primnodes.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
#include "access/transam.h"

#include "reporting.h"

PG_FUNCTION_INFO_V1(reporting_query_dependencies);

/* plain views are looked through at most this deep */
#define MAX_VIEW_DEPTH 32

typedef struct DependencyWalk
{
	List	   *kinds;			/* char * */
	List	   *objects;		/* char * */
	List	   *views;			/* plain views walked already (each once) */
	int			depth;
} DependencyWalk;

static bool dependency_walker(Node *node, DependencyWalk *walk);

/* Remember one dependency, once. */
static void
add_dependency(DependencyWalk *walk, const char *kind, const char *object)
{
	ListCell   *lk,
			   *lo;

	forboth(lk, walk->kinds, lo, walk->objects)
		if (strcmp(lfirst(lk), kind) == 0 && strcmp(lfirst(lo), object) == 0)
			return;
	walk->kinds = lappend(walk->kinds, pstrdup(kind));
	walk->objects = lappend(walk->objects, pstrdup(object));
}

/* True when name is one of the NULL-terminated names. */
static bool
name_in(const char *name, const char *const *names)
{
	for (; *names != NULL; names++)
		if (strcmp(name, *names) == 0)
			return true;
	return false;
}

/* Classify one function the query calls (check_functions_in_node's checker). */
static bool
function_checker(Oid funcid, void *context)
{
	static const char *const clock_functions[] = {
		"now", "statement_timestamp", "transaction_timestamp", "clock_timestamp",
		"timeofday",
		/* text to date and time reads 'now', 'today', 'yesterday' at run time */
		"timestamptz_in", "timestamp_in", "date_in", "time_in", "timetz_in", NULL
	};
	static const char *const table_reading_functions[] = {
		"query_to_xml", "table_to_xml", "cursor_to_xml", "query_to_xmlschema",
		"table_to_xmlschema", "cursor_to_xmlschema", "query_to_xml_and_xmlschema",
		"table_to_xml_and_xmlschema", "schema_to_xml", "schema_to_xmlschema",
		"schema_to_xml_and_xmlschema", "database_to_xml", "database_to_xmlschema",
		"database_to_xml_and_xmlschema", NULL
	};
	static const char *const sequence_functions[] = {
		"nextval", "currval", "lastval", "setval", NULL
	};
	static const char *const text_search_functions[] = {
		"to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery",
		"websearch_to_tsquery", "ts_headline", "json_to_tsvector",
		"jsonb_to_tsvector", "ts_debug", NULL
	};
	DependencyWalk *walk = (DependencyWalk *) context;
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	Form_pg_proc proc;
	char	   *signature;

	if (!HeapTupleIsValid(tuple))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	signature = format_procedure_qualified(funcid);
	if (proc->pronamespace == PG_CATALOG_NAMESPACE)
	{
		const char *name = NameStr(proc->proname);

		if (name_in(name, clock_functions))
			add_dependency(walk, "clock_time", signature);
		else if (strcmp(name, "age") == 0 && proc->pronargs == 1)
			add_dependency(walk, "clock_date", signature);	/* age(ts): from current_date */
		else if (name_in(name, table_reading_functions))
			add_dependency(walk, "function", signature);
		else if (strcmp(name, "current_setting") == 0)
			add_dependency(walk, "session", signature);
		else if (name_in(name, sequence_functions))
			add_dependency(walk, "sequence", signature);
		else if (name_in(name, text_search_functions))
			add_dependency(walk, "text_search", signature);
		else if (proc->provolatile == PROVOLATILE_VOLATILE)
			add_dependency(walk, "volatile", signature);
	}
	else if (proc->provolatile != PROVOLATILE_IMMUTABLE)
		add_dependency(walk, "function", signature);
	ReleaseSysCache(tuple);
	return false;
}

/* The query of a view or materialized view's _RETURN rule, read unlocked. */
static Query *
view_query(Oid relid)
{
	Relation	rel;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	Query	   *query = NULL;

	rel = table_open(RewriteRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_rewrite_ev_class, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_rewrite_rulename, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("_RETURN"));
	scan = systable_beginscan(rel, RewriteRelRulenameIndexId, true, NULL, 2, keys);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_rewrite_ev_action,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
		{
			List	   *actions = (List *) stringToNode(TextDatumGetCString(d));

			if (actions != NIL)
				query = linitial_node(Query, actions);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return query;
}

/*
 * Walk a plain view's query, as part of the query that reads it; each view
 * once (a view's stored rule lists the view itself, as OLD and NEW, and
 * views read by several others would be walked again and again).
 */
static void
walk_view(Oid relid, DependencyWalk *walk)
{
	Query	   *query;

	if (walk->depth >= MAX_VIEW_DEPTH || list_member_oid(walk->views, relid))
		return;
	walk->views = lappend_oid(walk->views, relid);
	query = view_query(relid);
	if (query == NULL)
		return;
	walk->depth++;
	(void) query_tree_walker(query, dependency_walker, walk, QTW_EXAMINE_RTES_BEFORE);
	walk->depth--;
}

/* Note what a node depends on, and walk on. */
static bool
dependency_walker(Node *node, DependencyWalk *walk)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, dependency_walker, walk,
								 QTW_EXAMINE_RTES_BEFORE);
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind != RTE_RELATION)
			return false;
		if (get_rel_relkind(rte->relid) == RELKIND_VIEW)
			walk_view(rte->relid, walk);
		else if (rte->relid < FirstNormalObjectId)
			add_dependency(walk, "catalog", get_rel_name(rte->relid));
		if (rte->tablesample != NULL && rte->tablesample->repeatable == NULL)
			add_dependency(walk, "volatile", "TABLESAMPLE");
		return false;
	}
	if (IsA(node, SQLValueFunction))
	{
		SQLValueFunction *svf = (SQLValueFunction *) node;

		switch (svf->op)
		{
			case SVFOP_CURRENT_DATE:
				add_dependency(walk, "clock_date", "CURRENT_DATE");
				break;
			case SVFOP_CURRENT_TIME:
			case SVFOP_CURRENT_TIME_N:
				add_dependency(walk, "clock_time", "CURRENT_TIME");
				break;
			case SVFOP_CURRENT_TIMESTAMP:
			case SVFOP_CURRENT_TIMESTAMP_N:
				add_dependency(walk, "clock_time", "CURRENT_TIMESTAMP");
				break;
			case SVFOP_LOCALTIME:
			case SVFOP_LOCALTIME_N:
				add_dependency(walk, "clock_time", "LOCALTIME");
				break;
			case SVFOP_LOCALTIMESTAMP:
			case SVFOP_LOCALTIMESTAMP_N:
				add_dependency(walk, "clock_time", "LOCALTIMESTAMP");
				break;
			case SVFOP_SESSION_USER:
				add_dependency(walk, "session", "SESSION_USER");
				break;
			default:
				break;			/* current role and schema: the owner's */
		}
		return false;
	}
	if (IsA(node, NextValueExpr))
		add_dependency(walk, "sequence", "a sequence");
	(void) check_functions_in_node(node, function_checker, walk);
	return expression_tree_walker(node, dependency_walker, walk);
}

/*
 * reporting._query_dependencies(view regclass)
 *		RETURNS TABLE(kind text, object text)
 *
 * What the view's query depends on besides the tables pg_depend links to it
 * (see the top of this file for the kinds).  view: a view or materialized
 * view; anything else has no query and returns no row.  Raises nothing
 * beyond what reading the catalog raises.
 */
Datum
reporting_query_dependencies(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	DependencyWalk walk = {NIL, NIL, NIL, 0};
	Query	   *query;
	ListCell   *lk,
			   *lo;

	InitMaterializedSRF(fcinfo, 0);
	query = view_query(relid);
	if (query == NULL)
		return (Datum) 0;
	walk.views = list_make1_oid(relid);
	(void) query_tree_walker(query, dependency_walker, &walk, QTW_EXAMINE_RTES_BEFORE);
	forboth(lk, walk.kinds, lo, walk.objects)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(lfirst(lk));
		values[1] = CStringGetTextDatum(lfirst(lo));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * reporting_query_tree_dependencies
 *		What an analyzed query depends on besides the tables it reads, through
 *		the plain views it reads (the kinds at the top of this file).
 *
 * query: a Query from parse analysis (an incremental report's).  Returns the
 * kinds (char *), and in *objects what each is about, in the same order.
 * Raises nothing beyond what reading the catalog raises.
 */
List *
reporting_query_tree_dependencies(Query *query, List **objects)
{
	DependencyWalk walk = {NIL, NIL, NIL, 0};

	(void) query_tree_walker(query, dependency_walker, &walk, QTW_EXAMINE_RTES_BEFORE);
	*objects = walk.objects;
	return walk.kinds;
}
