// One narrow interface over PostgreSQL, so the control plane runs the same SQL
// on embedded PGlite (one process, a data folder) and on a PostgreSQL server
// (many replicas). Everything above this file speaks plain SQL with $n
// parameters and never learns which one it talks to.

export type Row = Record<string, unknown>;

export interface Queryable {
  /** Runs one statement with $1…$n parameters; values are never spliced into the SQL text. */
  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
}

export interface Database extends Queryable {
  readonly kind: "pglite" | "postgres";
  /** Runs `fn` in one transaction on one connection; rolls back if it throws. */
  /** Runs a script of statements without parameters (the simple protocol); answers the last one's rows. */
  exec(sql: string): Promise<Row[]>;
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
