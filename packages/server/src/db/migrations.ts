// The schema, as numbered migrations applied in order at start. Each is a list
// of single statements (PGlite's extended protocol runs one per call). Never
// edit a released migration: add the next number.

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "api keys, activation codes, source servers",
    statements: [
      `create table api_keys (
        key_id text primary key,
        name text not null,
        key_hash text not null unique,
        created_at timestamptz not null default now(),
        last_used_at timestamptz
      )`,
      `create table activation_codes (
        code_id text primary key,
        code_hash text not null unique,
        description text not null default '',
        uses_total integer not null check (uses_total between 1 and 1000),
        uses_left integer not null check (uses_left >= 0 and uses_left <= uses_total),
        expires_at timestamptz not null,
        created_at timestamptz not null default now()
      )`,
      `create table sources (
        source_id text primary key,
        name text not null,
        state text not null check (state in ('Unavailable', 'Available', 'InUse', 'Deleting')),
        error_code text,
        status_info text,
        activation_code_id text references activation_codes (code_id) on delete set null,
        agent_token_hash text not null unique,
        agent_version text,
        hostname text,
        inventory jsonb not null,
        inventory_error jsonb,
        heartbeat_seconds integer not null check (heartbeat_seconds > 0),
        last_heartbeat_at timestamptz not null default now(),
        registered_at timestamptz not null default now()
      )`,
      "create index sources_state_idx on sources (state)",
      "create index sources_name_idx on sources (name)",
      "create index sources_heartbeat_idx on sources (last_heartbeat_at) where state <> 'Deleting'",
    ],
  },
  {
    version: 2,
    name: "replication jobs, their images, agent tasks",
    statements: [
      `create table replication_jobs (
        job_id text primary key,
        source_id text not null,
        name text not null,
        description text not null default '',
        status text not null check (status in ('Ready', 'Running', 'Stopped', 'InError', 'Finished', 'Waiting', 'Expired', 'Deleting')),
        business_status text check (business_status in ('Preparing', 'Syncing', 'Processing', 'Cleaning')),
        settings jsonb not null,
        settings_version integer not null default 1,
        error_code text,
        error_message text,
        error_fix text,
        status_info text,
        bytes_done bigint not null default 0,
        bytes_total bigint not null default 0,
        speed_bps double precision not null default 0,
        progress_at timestamptz,
        run_count integer not null default 0,
        next_run_at timestamptz,
        instance_id text,
        receiver_job_id text,
        inventory jsonb,
        plan jsonb,
        created_at timestamptz not null default now(),
        started_at timestamptz,
        ended_at timestamptz,
        updated_at timestamptz not null default now()
      )`,
      "create unique index replication_jobs_one_unfinished_idx on replication_jobs (source_id) where status in ('Ready', 'Running', 'Stopped', 'InError', 'Waiting')",
      "create index replication_jobs_status_idx on replication_jobs (status)",
      "create index replication_jobs_created_idx on replication_jobs (created_at desc, job_id)",
      `create table job_images (
        job_id text not null,
        image_name text not null,
        region_id text not null,
        run integer not null,
        verification text not null check (verification in ('booted', 'failed', 'skipped')),
        boot_seconds double precision,
        created_at timestamptz not null default now(),
        primary key (region_id, image_name)
      )`,
      "create index job_images_job_idx on job_images (job_id, run)",
      `create table agent_tasks (
        task_id text primary key,
        job_id text not null,
        source_id text not null,
        run integer not null,
        kind text not null check (kind in ('inventory', 'transfer')),
        payload jsonb not null,
        state text not null check (state in ('pending', 'running', 'done', 'failed', 'cancelled')),
        result jsonb,
        delivered_at timestamptz,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      )`,
      "create index agent_tasks_open_idx on agent_tasks (source_id, created_at) where state in ('pending', 'running')",
      "create index agent_tasks_job_idx on agent_tasks (job_id)",
    ],
  },
  {
    version: 3,
    name: "orchestration state of a job's current run",
    statements: [
      // run_count counts runs started; current_run is the run the orchestrator works on (0: none yet).
      "alter table replication_jobs add column current_run integer not null default 0",
      // The image a run is making, recorded before it is created so a crash cannot orphan it.
      "alter table replication_jobs add column pending_image text",
      "alter table replication_jobs add column verification jsonb",
      // One replica at a time works on a job: it holds a lease it renews while a step runs.
      "alter table replication_jobs add column lease_owner text",
      "alter table replication_jobs add column lease_until timestamptz",
      // Set when someone asked for the job to move on while another replica held the lease.
      "alter table replication_jobs add column wake boolean not null default false",
      `create table job_steps (
        job_id text not null,
        run integer not null,
        step text not null,
        replica text not null,
        started_at timestamptz not null default now(),
        finished_at timestamptz,
        outcome text,
        primary key (job_id, run, step, started_at)
      )`,
    ],
  },
  {
    version: 4,
    name: "partitions a job copies by block",
    statements: [
      // The agent's report of each data disk copied by block: device, filesystem, UUID, size.
      "alter table replication_jobs add column block_sources jsonb",
    ],
  },
  {
    version: 5,
    name: "steps a run has finished",
    statements: [
      // What the current run finished since it was prepared (converted: report and disks; imaged), so a restarted replica does not do it again.
      "alter table replication_jobs add column run_state jsonb",
    ],
  },
  {
    version: 6,
    name: "what changed on the source during a job's last copy",
    statements: [
      // The agent's report of the last completed copy: { run, disks: [{ disk, appeared, vanished, changed, paths }] }.
      "alter table replication_jobs add column changed_during_copy jsonb",
    ],
  },
];
