/*-------------------------------------------------------------------------
 *
 * unique_key.h
 *		What a view's unique key means for concurrent refreshes.  See
 *		unique_key.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPORTING_UNIQUE_KEY_H
#define REPORTING_UNIQUE_KEY_H

#include "postgres.h"

extern void reporting_warn_null_keys(Oid relid, Oid owner);

#endif							/* REPORTING_UNIQUE_KEY_H */
