// What the API asks of the background work when a job changes hands. The
// orchestrator implements it on the job queue; the job routes and the job
// store call it and never touch the provider or the queue themselves.

export interface JobWork {
  /** Queues the job's next step now, or at `startAfter` (scheduled and periodic runs). */
  start(jobId: string, startAfter?: Date): Promise<void>;
  /**
   * Releases what the job holds on the provider (its intermediate instance),
   * then removes the job (Status Deleting → gone) and frees its source.
   */
  release(jobId: string): Promise<void>;
}
