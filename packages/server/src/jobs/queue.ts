// The control plane's background work runs on pg-boss, a PostgreSQL-backed job
// queue: a message "advance job J" (now, or at a time for scheduled and
// periodic runs) is taken by exactly one worker of one replica, retried with
// backoff when its handler throws, and survives any restart because it lives
// in the database. pg-boss keeps its tables in their own schema and migrates
// them under its own advisory lock, so replicas may start together.
//
// PGlite has no wire protocol, so pg-boss is handed an adapter that runs its
// SQL through our Database; PostgreSQL goes through the same adapter (and so
// the same connection pool).
import type { Logger } from "@hoist/runtime";
import PgBoss from "pg-boss";
import type { Database } from "../db/database";

export const QUEUE_SCHEMA = "hoist_queue";
export const ADVANCE_QUEUE = "job-advance";

export interface JobQueue {
  /** Asks a worker to move the job on, now or at `startAfter`. */
  advance(jobId: string, startAfter?: Date): Promise<void>;
  stop(): Promise<void>;
}

export interface JobQueueOptions {
  db: Database;
  log: Logger;
  handler(jobId: string): Promise<void>;
  /** Jobs worked on at once by this replica (default 4). */
  workers?: number;
  /** How often idle workers look for work (default 1 s). */
  pollSeconds?: number;
}

function adapter(db: Database): PgBoss.Db {
  return {
    async executeSql(text: string, values?: unknown[]) {
      // pg-boss sends its schema scripts (many statements) without parameters.
      return { rows: values && values.length > 0 ? await db.query(text, values) : await db.exec(text) };
    },
  };
}

/** Fixed key of the lock that lets one replica at a time install pg-boss ("hoistq"). */
const QUEUE_SETUP_LOCK_KEY = 0x686f69737471;

/**
 * Runs `fn` while this replica holds a lock no other replica on the same
 * PostgreSQL can hold: pg-boss's own install and queue creation race when two
 * replicas start at once (duplicate schema, deadlock on the queue's partition).
 * The lock is a transaction-scoped advisory lock held open on one pooled
 * connection while `fn` works on the others. PGlite serves one process only.
 */
async function oneReplicaAtATime<T>(db: Database, fn: () => Promise<T>): Promise<T> {
  if (db.kind !== "postgres") return fn();
  return db.transaction(async (tx) => {
    await tx.query("select pg_advisory_xact_lock($1::bigint)", [QUEUE_SETUP_LOCK_KEY]);
    return fn();
  });
}

export async function startJobQueue(opts: JobQueueOptions): Promise<JobQueue> {
  const { log } = opts;
  const boss = new PgBoss({
    db: adapter(opts.db),
    schema: QUEUE_SCHEMA,
    // A handler still running this long is taken to be lost and its message retried.
    expireInSeconds: 2 * 3600,
    retryLimit: 8,
    retryDelay: 5,
    retryBackoff: true,
    monitorStateIntervalSeconds: 60,
  });
  boss.on("error", (e: Error) => log.warn("job queue error", { error: e.message }));
  await oneReplicaAtATime(opts.db, async () => {
    await boss.start();
    if (!(await boss.getQueue(ADVANCE_QUEUE))) await boss.createQueue(ADVANCE_QUEUE);
  });
  const workers = opts.workers ?? 4;
  for (let i = 0; i < workers; i++) {
    await boss.work<{ jobId: string }>(ADVANCE_QUEUE, { batchSize: 1, pollingIntervalSeconds: opts.pollSeconds ?? 1 }, async ([msg]) => {
      if (msg) await opts.handler(msg.data.jobId);
    });
  }
  return {
    async advance(jobId, startAfter) {
      await boss.send(ADVANCE_QUEUE, { jobId }, startAfter ? { startAfter } : {});
    },
    async stop() {
      await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
    },
  };
}
