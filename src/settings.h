/*-------------------------------------------------------------------------
 *
 * settings.h
 *		The settings a refresh runs with: the owner's login defaults.  See
 *		settings.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPORTING_SETTINGS_H
#define REPORTING_SETTINGS_H

#include "postgres.h"

extern int	reporting_apply_owner_settings(Oid owner);
extern void reporting_restore_settings(int nestlevel);
extern char *reporting_describe_settings(void);
extern bool reporting_setting_changes_results(const char *name);

#endif							/* REPORTING_SETTINGS_H */
