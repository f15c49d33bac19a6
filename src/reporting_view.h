/*-------------------------------------------------------------------------
 *
 * reporting_view.h
 *		What a refresh needs to know about the view, loaded once and passed
 *		along every refresh path (manual refresh(), refresh_all() in the
 *		session, refresh workers).  See reporting_view.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPORTING_VIEW_H
#define REPORTING_VIEW_H

#include "postgres.h"

#include "reporting.h"

typedef struct ReportingView
{
	Oid			relid;
	char	   *schema_name;
	char	   *rel_name;
	char	   *display_name;	/* schema.name, as messages show it in quotes */
	char	   *qualified_name; /* quoted, for the SQL we build */
	Oid			owner;			/* the view's owner (read again once locked) */
	bool		populated;		/* read again once locked */
	bool		usable_unique_index;	/* REFRESH ... CONCURRENTLY can use one */
	ReportingRegistration reg;	/* its registration */
} ReportingView;

extern ReportingView *reporting_view_load(Oid relid);
extern void reporting_view_reread_locked(ReportingView *view);

#endif							/* REPORTING_VIEW_H */
