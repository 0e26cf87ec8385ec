// The last part of deleting a job, after its intermediate instance is gone:
// the row and its tasks go, and its source is free again unless another
// unfinished job holds it (Unavailable rather than Available when its agent is offline).
import type { Database } from "../db/database";
import { freeSourceIfIdle } from "./store";

export async function finishRelease(db: Database, jobId: string): Promise<void> {
  await db.transaction(async (tx) => {
    const rows = await tx.query<{ source_id: string }>("delete from replication_jobs where job_id = $1 and status = 'Deleting' returning source_id", [jobId]);
    const sourceId = rows[0]?.source_id;
    if (!sourceId) return;
    await tx.query("delete from agent_tasks where job_id = $1", [jobId]);
    await freeSourceIfIdle(tx, sourceId);
  });
}
