// The one test suite every Database implementation runs (embedded PGlite and a
// real PostgreSQL server), so both speak the same SQL with the same results.
// Each test file passes how to make a fresh, empty database and how to open a
// second connection to the same one (a second replica).
import { type SourceInventory, isHoistError } from "@hoist/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { codeOfAsync } from "../../../../test/helpers/errors";
import { debianInventory } from "../../../../test/helpers/inventory";
import { createActivationCode, listActivationCodes, redeemActivationCode } from "../store/activation-codes";
import { ensureAdminKey, findApiKey } from "../store/api-keys";
import { deleteSource, getSource, listSources, markOfflineSources, recordHeartbeat, registerSource, setSourceState } from "../store/sources";
import type { Database } from "./database";
import { migrate } from "./migrate";
import { MIGRATIONS } from "./migrations";

export interface DbSuiteOptions {
  name: string;
  newDb: () => Promise<Database>;
  /** A second handle on the same database, as another replica would hold. */
  sameDb: (db: Database) => Promise<Database>;
}

export function inventoryFixture(hostname = "web-1"): SourceInventory {
  return debianInventory({ collectedAt: new Date().toISOString(), hostname, bootloader: { kind: "grub2", version: null } });
}

export function runDbTests({ name, newDb, sameDb }: DbSuiteOptions): void {
  describe(`database: ${name}`, () => {
    const open: Database[] = [];
    const fresh = async (): Promise<Database> => {
      const db = await newDb();
      open.push(db);
      return db;
    };
    const ready = async (): Promise<Database> => {
      const db = await fresh();
      await migrate(db);
      return db;
    };
    afterEach(async () => {
      for (const db of open.splice(0).reverse()) await db.close().catch(() => {});
    });

    it("applies every numbered migration once, and nothing on the next start", async () => {
      const db = await fresh();
      const first = await migrate(db);
      expect(first.applied).toEqual(MIGRATIONS.map((m) => m.version));
      const second = await migrate(db);
      expect(second.applied).toEqual([]);
      expect(second.version).toBe(MIGRATIONS.at(-1)?.version);
      const tables = await db.query<{ table_name: string }>("select table_name from information_schema.tables where table_schema = 'public' order by table_name");
      expect(tables.map((t) => t.table_name)).toEqual(["activation_codes", "agent_tasks", "api_keys", "job_images", "job_steps", "replication_jobs", "schema_migrations", "sources"]);
    });

    it("two replicas migrating at once apply each migration exactly once", async () => {
      const a = await fresh();
      const b = await sameDb(a);
      open.push(b);
      const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
      expect([...ra.applied, ...rb.applied].sort()).toEqual(MIGRATIONS.map((m) => m.version));
      const rows = await a.query<{ n: number }>("select count(*)::int as n from schema_migrations");
      expect(rows[0]?.n).toBe(MIGRATIONS.length);
    });

    it("creates the admin API key once and finds keys only by their exact value", async () => {
      const db = await ready();
      const first = await ensureAdminKey(db);
      expect(first.created).toMatch(/^hk_[A-Za-z0-9_-]{40,}$/);
      const again = await ensureAdminKey(db);
      expect(again.created).toBeUndefined();
      expect(again.keyId).toBe(first.keyId);
      expect(await findApiKey(db, first.created as string)).toBe(first.keyId);
      expect(await findApiKey(db, `${first.created}x`)).toBeNull();
      const stored = await db.query<{ key_hash: string }>("select key_hash from api_keys");
      expect(stored.map((r) => r.key_hash)).not.toContain(first.created);
      const fromEnv = "an-operator-chosen-key-0123456789";
      const env = await ensureAdminKey(db, fromEnv);
      expect(env.created).toBeUndefined();
      expect(await findApiKey(db, fromEnv)).toBe(env.keyId);
    });

    it("activation codes: each use is taken once; used-up, expired and unknown codes are refused with their codes", async () => {
      const db = await ready();
      const made = await createActivationCode(db, { uses: 2, validityDays: 1, description: "rack 4" });
      expect(made.usesLeft).toBe(2);
      expect(new Date(made.expiresAt).getTime() - Date.now()).toBeGreaterThan(23 * 3600_000);
      expect(await redeemActivationCode(db, made.code)).toBe(made.codeId);
      expect(await redeemActivationCode(db, made.code)).toBe(made.codeId);
      expect(await codeOfAsync(() => redeemActivationCode(db, made.code))).toBe("ActivationCode.UsedUp");
      expect(await codeOfAsync(() => redeemActivationCode(db, "hac_nothing"))).toBe("ActivationCode.Invalid");
      const old = await createActivationCode(db, { uses: 5, validityDays: 1, description: "" });
      await db.query("update activation_codes set expires_at = now() - interval '1 second' where code_id = $1", [old.codeId]);
      expect(await codeOfAsync(() => redeemActivationCode(db, old.code))).toBe("ActivationCode.Expired");
      const listed = await listActivationCodes(db);
      expect(listed.map((c) => [c.codeId, c.usesLeft, c.expired])).toEqual(
        expect.arrayContaining([
          [made.codeId, 0, false],
          [old.codeId, 5, true],
        ]),
      );
      expect(JSON.stringify(listed)).not.toContain(made.code);
    });

    it("concurrent imports never spend more uses than a code has", async () => {
      const db = await ready();
      const other = await sameDb(db);
      open.push(other);
      const code = await createActivationCode(db, { uses: 3, validityDays: 1, description: "" });
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => registerSource(i % 2 ? db : other, { activationCode: code.code, inventory: inventoryFixture(`h${i}`), heartbeatSeconds: 5 })),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(3);
      const refused = results.flatMap((r) => (r.status === "rejected" && isHoistError(r.reason) ? [r.reason.code] : []));
      expect(refused).toEqual(Array(5).fill("ActivationCode.UsedUp"));
      expect((await listSources(db, { limit: 100, offset: 0 })).total).toBe(3);
    });

    it("sources: import, heartbeat, offline after silence, back on the next heartbeat", async () => {
      const db = await ready();
      const code = await createActivationCode(db, { uses: 10, validityDays: 1, description: "" });
      const { source, agentToken } = await registerSource(db, { activationCode: code.code, inventory: inventoryFixture("db-1"), agentVersion: "1.2.3", heartbeatSeconds: 1 });
      expect(source.sourceId).toMatch(/^s-[0-9a-z]{20}$/);
      expect(source).toMatchObject({ name: "db-1", state: "Available", errorCode: null, agentVersion: "1.2.3", activationCodeId: code.codeId });
      const tokens = await db.query<{ agent_token_hash: string }>("select agent_token_hash from sources");
      expect(tokens[0]?.agent_token_hash).not.toBe(agentToken);
      expect(await recordHeartbeat(db, "hat_wrong")).toBeNull();
      expect((await recordHeartbeat(db, agentToken))?.state).toBe("Available");
      expect(await markOfflineSources(db, 1)).toBe(0);
      await db.query("update sources set last_heartbeat_at = now() - interval '10 seconds'");
      expect(await markOfflineSources(db, 1)).toBe(1);
      const offline = await getSource(db, source.sourceId);
      expect(offline).toMatchObject({ state: "Unavailable", errorCode: "SourceServer.Offline" });
      expect(offline?.statusInfo).toMatch(/no heartbeat/);
      expect(await markOfflineSources(db, 1)).toBe(0);
      expect(await recordHeartbeat(db, agentToken)).toMatchObject({ state: "Available", errorCode: null });
    });

    it("filters sources by state and by a name fragment, taking wildcards and quotes literally", async () => {
      const db = await ready();
      const code = await createActivationCode(db, { uses: 10, validityDays: 1, description: "" });
      const names = ["web-1", "web-2", "db_1", "x'; drop table sources; --"];
      const ids: string[] = [];
      for (const n of names) ids.push((await registerSource(db, { activationCode: code.code, name: n, inventory: inventoryFixture(n), heartbeatSeconds: 5 })).source.sourceId);
      await setSourceState(db, ids[1] as string, "InUse");
      const byName = async (name: string) => (await listSources(db, { name, limit: 100, offset: 0 })).sources.map((s) => s.name).sort();
      expect(await byName("WEB")).toEqual(["web-1", "web-2"]);
      expect(await byName("_")).toEqual(["db_1"]);
      expect(await byName("%")).toEqual([]);
      expect(await byName("drop table")).toEqual(["x'; drop table sources; --"]);
      const inUse = await listSources(db, { state: "InUse", limit: 100, offset: 0 });
      expect(inUse.sources.map((s) => s.sourceId)).toEqual([ids[1]]);
      const page = await listSources(db, { limit: 2, offset: 2 });
      expect(page.total).toBe(4);
      expect(page.sources).toHaveLength(2);
    });

    it("deleting a source removes it and its credential; a source in use cannot be deleted", async () => {
      const db = await ready();
      const code = await createActivationCode(db, { uses: 10, validityDays: 1, description: "" });
      const a = await registerSource(db, { activationCode: code.code, inventory: inventoryFixture("a"), heartbeatSeconds: 5 });
      const b = await registerSource(db, { activationCode: code.code, inventory: inventoryFixture("b"), heartbeatSeconds: 5 });
      const deleted = await deleteSource(db, a.source.sourceId);
      expect(deleted.state).toBe("Deleting");
      expect(await getSource(db, a.source.sourceId)).toBeNull();
      expect(await recordHeartbeat(db, a.agentToken)).toBeNull();
      expect(await codeOfAsync(() => deleteSource(db, a.source.sourceId))).toBe("SourceServer.NotFound");
      await setSourceState(db, b.source.sourceId, "InUse");
      expect(await codeOfAsync(() => deleteSource(db, b.source.sourceId))).toBe("SourceServerState.Invalid");
      expect((await getSource(db, b.source.sourceId))?.state).toBe("InUse");
    });
  });
}
