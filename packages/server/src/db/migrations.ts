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
];
