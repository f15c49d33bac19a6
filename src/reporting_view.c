/*-------------------------------------------------------------------------
 *
 * reporting_view.c
 *		Load what a refresh needs to know about a view once: its names, its
 *		owner, whether it is populated and has a unique index REFRESH ...
 *		CONCURRENTLY can use, and its registration (mode, timeouts, the
 *		owner that registered it).  Every refresh path (refresh.c's manual
 *		refresh, refresh_all.c in the session, refresh_worker.c) works from
 *		this one structure, instead of going back to the catalog for the
 *		same view and building its name again at each step (issue 11).
 *		The owner's settings are applied from view->owner by settings.c.
 *
 * Only two things are read again, on purpose, once the view is locked for
 * its refresh: its owner and whether it is populated, which may have
 * changed between the load and the lock, and cannot change after it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "reporting.h"
#include "reporting_view.h"

/*
 * Owner and populated flag of the view, from one syscache lookup; 42P01
 * when it was dropped meanwhile (nothing locks it before its refresh).
 */
static void
read_class(ReportingView *view)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(view->relid));
	Form_pg_class form;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("materialized view with OID %u was dropped", view->relid)));
	form = (Form_pg_class) GETSTRUCT(tuple);
	view->owner = form->relowner;
	view->populated = form->relispopulated;
	if (view->rel_name == NULL)
	{
		view->rel_name = pstrdup(NameStr(form->relname));
		view->schema_name = get_namespace_name(form->relnamespace);
	}
	ReleaseSysCache(tuple);
}

/*
 * Load relid for a refresh asked for by the current user, in the current
 * memory context.  Raises what the checks raise: 42P01 (no such relation),
 * 42809 (not a materialized view), 42501 (the caller may neither manage it
 * nor holds a refresh grant; security.c), 42704 (not registered).
 */
ReportingView *
reporting_view_load(Oid relid)
{
	ReportingView *view = palloc0(sizeof(ReportingView));

	reporting_check_refreshable(relid);
	view->relid = relid;
	read_class(view);
	view->display_name = psprintf("%s.%s", view->schema_name, view->rel_name);
	view->qualified_name = quote_qualified_identifier(view->schema_name, view->rel_name);
	if (!reporting_load_registration(relid, &view->reg))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("materialized view \"%s\" is not registered", view->display_name),
				 errhint("Register it first with reporting.register().")));
	view->usable_unique_index = reporting_has_usable_unique_index(relid);
	return view;
}

/*
 * The view is locked for its refresh: read its owner and populated flag
 * again (ALTER ... OWNER TO or a REFRESH may have come between the load and
 * the lock; the lock keeps them from changing from now on).
 */
void
reporting_view_reread_locked(ReportingView *view)
{
	read_class(view);
}
