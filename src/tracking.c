/*-------------------------------------------------------------------------
 *
 * tracking.c
 *		Change tracking: knowing, exactly and cheaply, whether a report can
 *		have missed a committed change to one of its sources.
 *
 * Writes are noted in the writing backend, with no object on users' tables
 * (see "Tracking" in DESIGN.md):
 *	- the executor: each result relation of a plan (INSERT, UPDATE, DELETE,
 *	  MERGE, writable CTEs, rules, SPI, referential actions), from the
 *	  ExecutorStart hook;
 *	- utility commands: COPY FROM, TRUNCATE (with the tables CASCADE
 *	  reaches), ATTACH / DETACH PARTITION, INHERIT / NO INHERIT, CREATE
 *	  TABLE ... PARTITION OF / INHERITS (a change of the parent) and REFRESH
 *	  MATERIALIZED VIEW (the "change" of a report others are built on);
 *	- DROP of a table that has parents (its rows leave the parents), from the
 *	  object access hook;
 *	- logical-replication apply, which bypasses the executor's hooks: at the
 *	  commit of an applied transaction, every table of the subscription.
 * A write is noted for the relation written only; a reader of generations
 * takes each source together with its ancestors and descendants (see
 * reporting._tracked_sources), so a row routed through a parent into a
 * partition, or written straight into an inheritance child, is never missed.
 *
 * A noted relation goes into a small per-transaction set.  When a
 * transaction that has an xid commits, a transaction callback bumps a change
 * generation per (database, relation) in shared memory, for the relations
 * that have an entry there: an entry is made when a refresh first records
 * the relation, so writers of tables no report reads pay one hash lookup at
 * commit and nothing else.  A refresh reads the generations of its sources
 * before it takes its snapshot and records them; the report is unchanged
 * while every generation still equals what was recorded.
 *
 * Shared state and locking
 * ------------------------
 * TrackerShared and the hash table of TrackerEntry are guarded by one
 * LWLock (tranche "reporting"):
 *	- entries are created (by a refresh recording a relation, or by a
 *	  PREPARE) and removed (when their relation or database is dropped) only
 *	  under the lock held exclusively, as are the "prepared" marks;
 *	- an entry's generation and last_change are atomics: a commit bumps them
 *	  holding the lock shared, so committers never wait for each other;
 *	- readers hold the lock shared.
 * The epoch is set once when shared memory is initialised (every postmaster
 * start and every crash restart) and never changes afterwards, so it may be
 * read without the lock.  A table written by a prepared transaction is
 * marked "prepared" (unknown) until no prepared transaction remains; when a
 * PREPARE finds the table full, "prepared_lost" makes every generation
 * unknown until then.
 *
 * The per-transaction sets live in TopTransactionContext.  Each pending
 * member counts the bumps it owes at commit: one for the writes so far, plus
 * one more for writes made after a refresh in the same transaction recorded
 * the relation, so that such writes are never taken as included in it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/heap.h"
#include "catalog/indexing.h"
#include "catalog/pg_database.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_subscription_rel.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parsetree.h"
#include "port/atomics.h"
#include "replication/logicalworker.h"
#include "replication/worker_internal.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "reporting.h"
#include "settings.h"
#include "tracking.h"

PG_FUNCTION_INFO_V1(reporting_track_change);

typedef struct TrackerKey
{
	Oid			dbid;
	Oid			relid;
} TrackerKey;

typedef struct TrackerEntry
{
	TrackerKey	key;
	pg_atomic_uint64 generation;	/* committed changes since the entry was made */
	pg_atomic_uint64 last_change;	/* commit time (TimestampTz) of the latest */
	bool		prepared;		/* written by a prepared transaction */
	int64		prepared_stamp; /* prepare_stamp when it was marked */
} TrackerEntry;

typedef struct TrackerShared
{
	LWLock	   *lock;
	int64		epoch;			/* changes at every shared memory init */
	bool		prepared_lost;	/* a PREPARE found the table full */
	int			nprepared;		/* entries with prepared set */
	int64		prepare_stamp;	/* prepared transactions published so far */
} TrackerShared;

/* one relation written by the current transaction */
typedef struct PendingTable
{
	Oid			relid;
	int			bumps;			/* generations to add at commit */
	bool		recorded;		/* a refresh in this transaction read it */
} PendingTable;

/* a growable array of relations, in TopTransactionContext */
typedef struct OidSet
{
	Oid		   *oids;
	int			n;
	int			max;
} OidSet;

/* GUC: entries in the shared table */
int			reporting_max_tracked_tables = 10000;

static TrackerShared *tracker = NULL;
static HTAB *tracker_hash = NULL;

static PendingTable *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;

/* a statement that can change every report's result ran (see note_ddl) */
static bool results_ddl = false;
/*
 * Where that DDL changes results: this database (InvalidOid, the default),
 * another one (ALTER DATABASE other SET, ALTER ROLE ... IN DATABASE other
 * SET), or every database (ALTER ROLE ... SET without IN DATABASE).
 */
static Oid	results_ddl_database = InvalidOid;
static bool results_ddl_everywhere = false;

/* relations and databases dropped by the current transaction */
static OidSet dropped_relations = {NULL, 0, 0};
static OidSet dropped_databases = {NULL, 0, 0};

/* the reason a generation is unknown, one literal per case */
#define REASON_OFF "change tracking is off: reporting is not in shared_preload_libraries"
#define REASON_FULL "the change tracker's table is full (raise reporting.max_tracked_tables)"
#define REASON_PREPARED "a prepared transaction changed it"
#define REASON_PREPARED_LOST "a prepared transaction changed tables the change tracker had no room for (raise reporting.max_tracked_tables)"

/*
 * Define reporting.max_tracked_tables.  A PGC_POSTMASTER setting can only be
 * defined while preloading.
 */
void
reporting_tracking_define_gucs(void)
{
	DefineCustomIntVariable("reporting.max_tracked_tables",
							"Tables whose changes can be tracked, across all databases.",
							"Tables read by registered views take one entry each, from their first refresh on. "
							"When the table is full, reports on tables without an entry read as unknown, never as fresh.",
							&reporting_max_tracked_tables,
							10000, 100, INT_MAX / 2,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
}

/* Request the shared memory and the LWLock (postmaster, preload only). */
void
reporting_tracking_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(TrackerShared)));
	RequestAddinShmemSpace(hash_estimate_size(reporting_max_tracked_tables,
											  sizeof(TrackerEntry)));
	RequestNamedLWLockTranche("reporting", 1);
}

/*
 * Create or attach to the shared state; a new epoch when it is created.
 * Called with AddinShmemInitLock held.
 */
void
reporting_tracking_shmem_startup(void)
{
	HASHCTL		info;
	bool		found;

	tracker = ShmemInitStruct("reporting tracker", sizeof(TrackerShared), &found);
	if (!found)
	{
		tracker->lock = &(GetNamedLWLockTranche("reporting"))->lock;
		tracker->epoch = (int64) GetCurrentTimestamp();
		tracker->prepared_lost = false;
		tracker->nprepared = 0;
		tracker->prepare_stamp = 0;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(TrackerKey);
	info.entrysize = sizeof(TrackerEntry);
	tracker_hash = ShmemInitHash("reporting tracker generations",
								 reporting_max_tracked_tables,
								 reporting_max_tracked_tables,
								 &info, HASH_ELEM | HASH_BLOBS);
}

/* True when this backend can track changes (the library was preloaded). */
bool
reporting_tracking_active(void)
{
	return tracker != NULL;
}

/*
 * The current epoch, or 0 when tracking is off.  It is the time shared
 * memory was initialised (a TimestampTz), which also tells which prepared
 * transactions survived a restart.
 */
int64
reporting_tracking_epoch(void)
{
	return tracker ? tracker->epoch : 0;
}

/* Add relid to a per-transaction set, unless it is there. */
static void
oidset_add(OidSet *set, Oid relid)
{
	MemoryContext old;

	for (int i = 0; i < set->n; i++)
		if (set->oids[i] == relid)
			return;
	if (set->n == set->max)
	{
		old = MemoryContextSwitchTo(TopTransactionContext);
		set->max = set->max ? set->max * 2 : 8;
		set->oids = set->oids ? repalloc(set->oids, set->max * sizeof(Oid))
			: palloc(set->max * sizeof(Oid));
		MemoryContextSwitchTo(old);
	}
	set->oids[set->n++] = relid;
}

/*
 * Note that the current transaction changed relid.  Called for every write
 * statement, so it only appends to a small array.
 */
void
reporting_note_change(Oid relid)
{
	MemoryContext old;

	if (tracker == NULL || !OidIsValid(relid))
		return;
	for (int i = 0; i < npending; i++)
	{
		if (pending[i].relid == relid)
		{
			if (pending[i].recorded)
			{
				pending[i].bumps++;
				pending[i].recorded = false;
			}
			return;
		}
	}
	if (npending == maxpending)
	{
		old = MemoryContextSwitchTo(TopTransactionContext);
		maxpending = maxpending ? maxpending * 2 : 8;
		pending = pending ? repalloc(pending, maxpending * sizeof(PendingTable))
			: palloc(maxpending * sizeof(PendingTable));
		MemoryContextSwitchTo(old);
	}
	pending[npending].relid = relid;
	pending[npending].bumps = 1;
	pending[npending].recorded = false;
	npending++;
}

/*
 * The ExecutorStart hook's half: note every result relation of the plan.
 * PlannedStmt.resultRelations lists the target of every ModifyTable node of
 * the plan (writable CTEs included) and, for a partitioned target, its root
 * and the leaf partitions it may write.  A plan that writes nothing costs
 * one test.
 */
void
reporting_note_plan_writes(PlannedStmt *pstmt)
{
	ListCell   *lc;

	if (tracker == NULL || pstmt->resultRelations == NIL)
		return;
	foreach(lc, pstmt->resultRelations)
	{
		RangeTblEntry *rte = rt_fetch(lfirst_int(lc), pstmt->rtable);

		if (rte->rtekind == RTE_RELATION)
			reporting_note_change(rte->relid);
	}
}

/* The relation a RangeVar names now, or InvalidOid; takes no lock. */
static Oid
relation_of(RangeVar *rv)
{
	return rv ? RangeVarGetRelid(rv, NoLock, true) : InvalidOid;
}

/*
 * TRUNCATE: the tables named, and with CASCADE every table a foreign key
 * reaches from them, as ExecuteTruncate finds them.  Descendants truncated
 * with their parent need no note of their own: readers of a descendant look
 * at its ancestors too.
 */
static void
note_truncate(TruncateStmt *stmt)
{
	List	   *relids = NIL;
	ListCell   *lc;

	foreach(lc, stmt->relations)
	{
		RangeVar   *rv = (RangeVar *) lfirst(lc);
		Oid			relid = relation_of(rv);

		if (!OidIsValid(relid))
			continue;
		/* as ExecuteTruncate: descendants first, then what CASCADE reaches */
		if (rv->inh)
			relids = list_concat_unique_oid(relids, find_all_inheritors(relid, NoLock, NULL));
		else
			relids = list_append_unique_oid(relids, relid);
	}
	if (stmt->behavior == DROP_CASCADE)
	{
		List	   *more = relids;

		while (more != NIL)
		{
			List	   *found = heap_truncate_find_FKs(more);
			List	   *fresh = NIL;

			foreach(lc, found)
				if (!list_member_oid(relids, lfirst_oid(lc)))
					fresh = lappend_oid(fresh, lfirst_oid(lc));
			relids = list_concat(relids, fresh);
			more = fresh;
		}
	}
	foreach(lc, relids)
		reporting_note_change(lfirst_oid(lc));
}

/*
 * DDL that can change what a report's query returns without writing any row
 * of its sources: a view or function it uses redefined, row-level security
 * or policies changed, a column added or retyped (whole-row references), a
 * type's values renamed, an object renamed or moved (names inside function
 * bodies), an owner changed (row-level security, the owner's settings), a
 * role's or the database's settings changed (a refresh uses the owner's),
 * a text search configuration altered.  Noting which reports each one
 * touches would need the dependency graph; it counts as a change of every
 * tracked relation of the database instead (a needless refresh at worst).
 */
/*
 * True when relid was created by this transaction (the new definition
 * reporting.redefine() builds beside the old one, its indexes): no report
 * read it before, so renaming it or giving it an owner changes no result
 * (the reports that read the relation it replaces by name follow it by
 * their registration's declared sources, or are unknown anyway).
 */
static bool
created_in_this_transaction(Oid relid)
{
	Relation	rel;
	bool		own;

	if (!OidIsValid(relid))
		return false;
	/*
	 * The relcache knows (rd_createSubid); the xmin of its pg_class row
	 * would also be ours after any ALTER of an old relation
	 */
	rel = RelationIdGetRelation(relid);
	if (!RelationIsValid(rel))
		return false;
	own = rel->rd_createSubid != InvalidSubTransactionId;
	RelationClose(rel);
	return own;
}

/* A rename that changes no report's result: an index's, or a new relation's. */
static bool
rename_changes_nothing(RenameStmt *stmt)
{
	if (stmt->renameType == OBJECT_INDEX)
		return true;
	if (stmt->relation == NULL || stmt->subname != NULL)
		return false;
	return created_in_this_transaction(relation_of(stmt->relation));
}

static bool
ddl_changes_results(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_ViewStmt:
			return ((ViewStmt *) parsetree)->replace;
		case T_CreateFunctionStmt:
			return ((CreateFunctionStmt *) parsetree)->replace;
		case T_RenameStmt:
			return !rename_changes_nothing((RenameStmt *) parsetree);
		/* a login default refreshes run with (not reporting.enabled, say) */
		case T_AlterRoleSetStmt:
			return reporting_setting_changes_results(((AlterRoleSetStmt *) parsetree)->setstmt->name);
		case T_AlterDatabaseSetStmt:
			return reporting_setting_changes_results(((AlterDatabaseSetStmt *) parsetree)->setstmt->name);
		case T_AlterFunctionStmt:
		case T_CreatePolicyStmt:
		case T_AlterPolicyStmt:
		case T_AlterEnumStmt:
		case T_AlterObjectSchemaStmt:
		case T_AlterOwnerStmt:
		case T_AlterTSConfigurationStmt:
		case T_AlterTSDictionaryStmt:
			return true;
		case T_DropStmt:
			return ((DropStmt *) parsetree)->removeType == OBJECT_POLICY;
		case T_AlterTableStmt:
			{
				ListCell   *lc;
				Oid			relid = relation_of(((AlterTableStmt *) parsetree)->relation);

				/* no report reads a temporary table (REFRESH ... CONCURRENTLY alters its own) */
				if (OidIsValid(relid) && get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
					return false;
				if (created_in_this_transaction(relid))
					return false;
				foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
				{
					switch (((AlterTableCmd *) lfirst(lc))->subtype)
					{
						case AT_EnableRowSecurity:
						case AT_DisableRowSecurity:
						case AT_ForceRowSecurity:
						case AT_NoForceRowSecurity:
						case AT_AddColumn:
						case AT_AlterColumnType:
						case AT_ChangeOwner:
							return true;
						default:
							break;
					}
				}
				return false;
			}
		default:
			return false;
	}
}

/*
 * A setting's default changed for a role or a database (TimeZone,
 * search_path, ...): the refreshes of reports owned there now run with it,
 * in whichever database it applies to (see settings.c).
 */
static void
note_settings_scope(Node *parsetree)
{
	const char *dbname = NULL;

	if (IsA(parsetree, AlterRoleSetStmt))
	{
		dbname = ((AlterRoleSetStmt *) parsetree)->database;
		if (dbname == NULL)
		{
			results_ddl_everywhere = true;
			return;
		}
	}
	else if (IsA(parsetree, AlterDatabaseSetStmt))
		dbname = ((AlterDatabaseSetStmt *) parsetree)->dbname;
	else
		return;
	{
		Oid			dboid = get_database_oid(dbname, true);

		if (OidIsValid(dboid) && dboid != MyDatabaseId)
		{
			/* two databases in one transaction: every database */
			if (OidIsValid(results_ddl_database) && results_ddl_database != dboid)
				results_ddl_everywhere = true;
			results_ddl_database = dboid;
		}
	}
}

/*
 * ALTER TABLE subcommands that move rows in or out of what a parent holds:
 * ATTACH / DETACH PARTITION (stmt->relation is the parent) and INHERIT /
 * NO INHERIT (stmt->relation is the child, the parent is the argument).
 */
static void
note_alter_table(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

		switch (cmd->subtype)
		{
			case AT_AttachPartition:
			case AT_DetachPartition:
			case AT_DetachPartitionFinalize:
				reporting_note_change(relation_of(stmt->relation));
				break;
			case AT_AddInherit:
			case AT_DropInherit:
				reporting_note_change(relation_of((RangeVar *) cmd->def));
				break;
			default:
				break;
		}
	}
}

/*
 * The ProcessUtility hook's half, called before the command runs (finished
 * false) and after it succeeded (finished true).  Noting before is safe: a
 * command that fails aborts the (sub)transaction, and a note that outlives a
 * rolled-back subtransaction only costs a needless refresh.
 */
void
reporting_note_utility(Node *parsetree, bool finished)
{
	if (tracker == NULL)
		return;
	if (finished)
	{
		/* a refresh is the "change" of a report others are built on */
		if (IsA(parsetree, RefreshMatViewStmt))
			reporting_note_change(relation_of(((RefreshMatViewStmt *) parsetree)->relation));
		/*
		 * Noted again once the rows are in: a refresh that ran during the
		 * command (from a trigger) did not see what came after it.
		 */
		else if (IsA(parsetree, CopyStmt) && ((CopyStmt *) parsetree)->is_from)
			reporting_note_change(relation_of(((CopyStmt *) parsetree)->relation));
		else if (IsA(parsetree, TruncateStmt))
			note_truncate((TruncateStmt *) parsetree);
		return;
	}
	if (ddl_changes_results(parsetree))
	{
		results_ddl = true;
		note_settings_scope(parsetree);
	}
	switch (nodeTag(parsetree))
	{
		case T_CopyStmt:
			if (((CopyStmt *) parsetree)->is_from)
				reporting_note_change(relation_of(((CopyStmt *) parsetree)->relation));
			break;
		case T_TruncateStmt:
			note_truncate((TruncateStmt *) parsetree);
			break;
		case T_AlterTableStmt:
			note_alter_table((AlterTableStmt *) parsetree);
			break;
		case T_CreateStmt:
			{
				ListCell   *lc;

				/* a new partition or child: its parent's contents may move */
				foreach(lc, ((CreateStmt *) parsetree)->inhRelations)
					reporting_note_change(relation_of((RangeVar *) lfirst(lc)));
				break;
			}
		default:
			break;
	}
}

/* Note the parents of relid: dropping it takes its rows out of them. */
static void
note_parents(Oid relid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	rel = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		reporting_note_change(((Form_pg_inherits) GETSTRUCT(tuple))->inhparent);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * The object access hook's half, for OAT_DROP: a dropped relation is a
 * change of its parents (pg_inherits still lists them at this point), and
 * its entry, like the entries of a dropped database, is reclaimed when the
 * transaction commits.
 */
void
reporting_note_drop(Oid classId, Oid objectId, int subId)
{
	if (tracker == NULL || subId != 0)
		return;
	if (classId == RelationRelationId)
	{
		note_parents(objectId);
		oidset_add(&dropped_relations, objectId);
	}
	else if (classId == DatabaseRelationId)
		oidset_add(&dropped_databases, objectId);
}

/*
 * A logical-replication apply or table-sync worker writes without the
 * executor's hooks.  At the commit of a transaction it applied, every table
 * of its subscription counts as changed: more than it wrote, never less.
 * Runs at pre-commit, where the catalog may still be read.
 */
static void
note_replicated_writes(void)
{
	List	   *rels;
	ListCell   *lc;

	if (!IsLogicalWorker() || MySubscription == NULL ||
		!TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return;
	rels = GetSubscriptionRelations(MySubscription->oid);
	foreach(lc, rels)
		reporting_note_change(((SubscriptionRelState *) lfirst(lc))->relid);
}

/* Move an entry's last_change forward to now (never back). */
static void
entry_touch(TrackerEntry *entry, TimestampTz now)
{
	uint64		seen = pg_atomic_read_u64(&entry->last_change);

	while ((TimestampTz) seen < now &&
		   !pg_atomic_compare_exchange_u64(&entry->last_change, &seen, (uint64) now))
		;
}

/*
 * Bump the entries of the relations written, holding the lock shared, so
 * that committers do not wait for one another.  Relations without an entry
 * are read by no report's recorded refresh: nothing to do.  Runs after the
 * commit is visible to other transactions, and must not fail.
 */
static void
publish_commit(void)
{
	TimestampTz now = 0;

	LWLockAcquire(tracker->lock, LW_SHARED);
	for (int i = 0; i < npending; i++)
	{
		TrackerKey	key = {MyDatabaseId, pending[i].relid};
		TrackerEntry *entry = hash_search(tracker_hash, &key, HASH_FIND, NULL);

		if (entry == NULL)
			continue;
		if (now == 0)
			now = GetCurrentTimestamp();
		pg_atomic_fetch_add_u64(&entry->generation, pending[i].bumps);
		entry_touch(entry, now);
	}
	LWLockRelease(tracker->lock);
}

/*
 * DDL that can change every report's result committed: bump every entry of
 * this database (see ddl_changes_results), of the other database whose
 * settings changed, or of every database after a role's setting changed
 * everywhere; holding the lock shared.
 */
static void
publish_ddl(void)
{
	HASH_SEQ_STATUS scan;
	TrackerEntry *entry;
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(tracker->lock, LW_SHARED);
	hash_seq_init(&scan, tracker_hash);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		if (!results_ddl_everywhere && entry->key.dbid != MyDatabaseId &&
			entry->key.dbid != results_ddl_database)
			continue;
		pg_atomic_fetch_add_u64(&entry->generation, 1);
		entry_touch(entry, now);
	}
	LWLockRelease(tracker->lock);
}

/*
 * A prepared transaction's writes are published by whoever commits it,
 * which does not know them: mark their tables "prepared" (unknown) until no
 * prepared transaction is left, creating entries as needed.  When the table
 * is full, every generation is unknown meanwhile.
 */
static void
publish_prepare(void)
{
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(tracker->lock, LW_EXCLUSIVE);
	tracker->prepare_stamp++;
	for (int i = 0; i < npending; i++)
	{
		TrackerKey	key = {MyDatabaseId, pending[i].relid};
		TrackerEntry *entry;
		bool		found;

		entry = (hash_get_num_entries(tracker_hash) < reporting_max_tracked_tables)
			? hash_search(tracker_hash, &key, HASH_ENTER_NULL, &found)
			: hash_search(tracker_hash, &key, HASH_FIND, &found);
		if (entry == NULL)
		{
			tracker->prepared_lost = true;
			continue;
		}
		if (!found)
		{
			pg_atomic_init_u64(&entry->generation, 0);
			pg_atomic_init_u64(&entry->last_change, 0);
			entry->prepared = false;
		}
		pg_atomic_fetch_add_u64(&entry->generation, pending[i].bumps);
		entry_touch(entry, now);
		if (!entry->prepared)
			tracker->nprepared++;
		entry->prepared = true;
		entry->prepared_stamp = tracker->prepare_stamp;
	}
	LWLockRelease(tracker->lock);
}

/* Remove one entry, keeping the count of prepared marks right. */
static void
remove_entry(TrackerKey *key)
{
	bool		found;
	TrackerEntry *entry = hash_search(tracker_hash, key, HASH_FIND, &found);

	if (entry == NULL)
		return;
	if (entry->prepared)
		tracker->nprepared--;
	(void) hash_search(tracker_hash, key, HASH_REMOVE, NULL);
}

/*
 * Reclaim the entries of the relations and databases this transaction
 * dropped, so that partition churn never fills the table.  After commit:
 * must not fail.
 */
static void
reclaim_dropped(void)
{
	LWLockAcquire(tracker->lock, LW_EXCLUSIVE);
	for (int i = 0; i < dropped_relations.n; i++)
	{
		TrackerKey	key = {MyDatabaseId, dropped_relations.oids[i]};

		remove_entry(&key);
	}
	if (dropped_databases.n > 0)
	{
		HASH_SEQ_STATUS scan;
		TrackerEntry *entry;

		hash_seq_init(&scan, tracker_hash);
		while ((entry = hash_seq_search(&scan)) != NULL)
		{
			for (int i = 0; i < dropped_databases.n; i++)
				if (entry->key.dbid == dropped_databases.oids[i])
				{
					TrackerKey	key = entry->key;

					remove_entry(&key);
					break;
				}
		}
	}
	LWLockRelease(tracker->lock);
}

/* The transaction is over: its sets went away with TopTransactionContext. */
static void
forget_transaction(void)
{
	pending = NULL;
	npending = 0;
	maxpending = 0;
	results_ddl = false;
	results_ddl_database = InvalidOid;
	results_ddl_everywhere = false;
	memset(&dropped_relations, 0, sizeof(OidSet));
	memset(&dropped_databases, 0, sizeof(OidSet));
}

/*
 * Transaction events (dispatched by init.c): note replicated writes before
 * commit; publish on commit (only a transaction with an xid changed
 * anything) or prepare; forget on abort.
 */
void
reporting_tracking_xact_event(XactEvent event)
{
	if (tracker == NULL)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			note_replicated_writes();
			return;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (npending > 0 && TransactionIdIsValid(GetTopTransactionIdIfAny()))
				publish_commit();
			if (results_ddl)
				publish_ddl();
			if (dropped_relations.n > 0 || dropped_databases.n > 0)
				reclaim_dropped();
			break;
		case XACT_EVENT_PREPARE:
			if (npending > 0)
				publish_prepare();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			break;
		default:
			return;				/* other pre-commit events: keep the sets */
	}
	forget_transaction();
}

/*
 * Make the entries of relids that have none, for a refresh about to record
 * them; a relation the full table has no room for gets *reason.  Holds the
 * lock exclusively: refreshes are rare next to commits.
 */
static void
create_entries(int n, const Oid *relids, const char **reasons)
{
	LWLockAcquire(tracker->lock, LW_EXCLUSIVE);
	for (int i = 0; i < n; i++)
	{
		TrackerKey	key = {MyDatabaseId, relids[i]};
		TrackerEntry *entry;
		bool		found;

		entry = hash_search(tracker_hash, &key, HASH_FIND, &found);
		if (entry != NULL)
			continue;
		if (hash_get_num_entries(tracker_hash) < reporting_max_tracked_tables)
			entry = hash_search(tracker_hash, &key, HASH_ENTER_NULL, &found);
		if (entry == NULL)
		{
			reasons[i] = REASON_FULL;
			continue;
		}
		pg_atomic_init_u64(&entry->generation, 0);
		pg_atomic_init_u64(&entry->last_change, 0);
		entry->prepared = false;
	}
	LWLockRelease(tracker->lock);
}

/*
 * Read the generation of each relation in relids (all in the current
 * database).  A refresh (for_refresh) calls this before it takes its
 * snapshot; relations without an entry get one, so that every commit from
 * then on is counted.  For status, a relation without an entry has
 * generation 0 (no refresh recorded it since the epoch began), unless the
 * table is full: then it may be one the tracker had no room for.  Relations
 * the current transaction has written count with the bumps they will get at
 * its commit and, for a refresh, are marked recorded so that later writes in
 * the same transaction owe one more.  Unknown generations come back as -1
 * with reasons[i] set.
 */
void
reporting_read_generations(int n, const Oid *relids, int64 *generations,
						   TimestampTz *last_changes, const char **reasons,
						   bool for_refresh)
{
	for (int i = 0; i < n; i++)
	{
		generations[i] = -1;
		last_changes[i] = 0;
		reasons[i] = tracker == NULL ? REASON_OFF : NULL;
	}
	if (tracker == NULL)
		return;
	if (for_refresh)
		create_entries(n, relids, reasons);

	LWLockAcquire(tracker->lock, LW_SHARED);
	for (int i = 0; i < n; i++)
	{
		TrackerKey	key = {MyDatabaseId, relids[i]};
		TrackerEntry *entry = hash_search(tracker_hash, &key, HASH_FIND, NULL);

		if (reasons[i] != NULL)
			continue;
		if (tracker->prepared_lost)
			reasons[i] = REASON_PREPARED_LOST;
		else if (entry != NULL && entry->prepared)
			reasons[i] = REASON_PREPARED;
		else if (entry == NULL &&
				 hash_get_num_entries(tracker_hash) >= reporting_max_tracked_tables)
			reasons[i] = REASON_FULL;
		else
		{
			generations[i] = entry ? (int64) pg_atomic_read_u64(&entry->generation) : 0;
			last_changes[i] = entry ? (TimestampTz) pg_atomic_read_u64(&entry->last_change) : 0;
		}
	}
	LWLockRelease(tracker->lock);

	for (int i = 0; i < n; i++)
	{
		for (int j = 0; j < npending; j++)
		{
			if (pending[j].relid != relids[i])
				continue;
			if (generations[i] >= 0)
				generations[i] += pending[j].bumps;
			if (for_refresh)
				pending[j].recorded = true;
		}
	}
}

/*
 * True when the current transaction ran DDL that changes reports' results
 * (see ddl_changes_results): its effect is published at commit, so until
 * then no answer about freshness may be taken from, or given to, a cache.
 */
bool
reporting_results_ddl_pending(void)
{
	return results_ddl;
}

/*
 * True when the current transaction has written relid (its changes are not
 * committed yet): what status says about them must not call them committed.
 */
bool
reporting_written_by_this_transaction(Oid relid)
{
	for (int i = 0; i < npending; i++)
		if (pending[i].relid == relid)
			return true;
	return false;
}

/*
 * The number of prepared transactions published so far, or -1 when no
 * table is marked.  Read it before checking that no prepared transaction is
 * left, then pass it to reporting_clear_prepared_marks: marks made by
 * transactions prepared after the read are kept.
 */
int64
reporting_prepare_stamp(void)
{
	int64		stamp;

	if (tracker == NULL)
		return -1;
	LWLockAcquire(tracker->lock, LW_SHARED);
	stamp = (tracker->nprepared > 0 || tracker->prepared_lost) ? tracker->prepare_stamp : -1;
	LWLockRelease(tracker->lock);
	return stamp;
}

/*
 * Forget the "prepared" marks made up to stamp, once the caller has seen
 * that no prepared transaction is left: those that committed have made
 * their changes visible by now, and their tables' generations were bumped
 * at PREPARE, so the marked tables count as changed and are known again.
 */
void
reporting_clear_prepared_marks(int64 stamp)
{
	HASH_SEQ_STATUS scan;
	TrackerEntry *entry;

	if (tracker == NULL)
		return;
	LWLockAcquire(tracker->lock, LW_EXCLUSIVE);
	hash_seq_init(&scan, tracker_hash);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		if (entry->prepared && entry->prepared_stamp <= stamp)
		{
			entry->prepared = false;
			tracker->nprepared--;
		}
	}
	if (tracker->prepare_stamp <= stamp)
		tracker->prepared_lost = false;
	LWLockRelease(tracker->lock);
}

/*
 * reporting.track_change(): the statement-level trigger that versions of
 * the SQL objects before 0.4.0 put on source tables.  Kept so that their
 * triggers keep working (and stay harmless) until they are dropped; the
 * hooks see the same writes.  Without the preloaded library it does
 * nothing, so that a write never fails because of tracking.
 */
Datum
reporting_track_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reporting.track_change() must be called as a trigger")));
	reporting_note_change(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
