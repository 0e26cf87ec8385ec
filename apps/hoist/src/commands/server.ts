import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createSecureContext } from "node:tls";
import { fileURLToPath } from "node:url";
import { HoistError } from "@hoist/protocol";
import { createLogger, hoistCommand, type LogLevel } from "@hoist/runtime";
import { type Command, Option } from "commander";
import { VERSION } from "../version";
import { addServerProviderOptions, defaultRegion, type ServerProviderFlags, serverProvider } from "./server-provider";
import { hostValue, httpUrl, pathValue, portNumber, wholeNumber } from "./flag-values";

/** The certificate and key must make a TLS context before anything is opened or created. */
function checkTlsFiles(certFile: string, keyFile: string): void {
  try {
    createSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
  } catch (e) {
    throw new HoistError("Config.InvalidTlsFile", `--tls-cert and --tls-key do not make a TLS certificate and its key: ${e instanceof Error ? e.message : String(e)}`, {
      fix: "Pass a PEM certificate with --tls-cert and the PEM private key that belongs to it with --tls-key.",
    });
  }
}

/** The web console's files, built beside the bundle (apps/hoist/dist/console). */
function consoleDir(): string | undefined {
  const dir = join(dirname(fileURLToPath(import.meta.url)), "console");
  return existsSync(join(dir, "index.html")) ? dir : undefined;
}

export function registerServerCommand(program: Command): void {
  addServerProviderOptions(program.command("server"))
    .description("Run the control plane: the HTTP API that imports source servers with activation codes and runs their replication jobs.")
    .option("--port <port>", "HTTP(S) port (0 picks a free one)", portNumber("--port", { allowZero: true }), 8080)
    .option("--listen <address>", "address to listen on", hostValue("--listen", "Config.InvalidListenAddress"), "0.0.0.0")
    .option("--data-dir <dir>", "folder of the embedded database (ignored when DATABASE_URL is set)", pathValue("--data-dir", { code: "Config.InvalidDataDir" }), "/var/lib/hoist/server")
    .option("--public-url <url>", "URL sources reach this server at, used in install commands (default: the address the caller used)", httpUrl("--public-url", "Config.InvalidUrl", { base: true }))
    .option("--tls-cert <file>", "PEM certificate: serve HTTPS instead of plain HTTP (needs --tls-key)", pathValue("--tls-cert", { exists: "file", code: "Config.InvalidTlsFile" }))
    .option("--tls-key <file>", "PEM private key for --tls-cert", pathValue("--tls-key", { exists: "file", code: "Config.InvalidTlsFile" }))
    .option("--heartbeat-seconds <n>", "how often agents heartbeat (1–3600)", wholeNumber("--heartbeat-seconds", 1, 3600), 30)
    .option("--offline-after-seconds <n>", "silence after which a source is offline (1–86400; default: 3 heartbeats)", wholeNumber("--offline-after-seconds", 1, 86400))
    .option("--image-store <dir>", "where the local provider keeps images (default: $HOIST_IMAGE_STORE, else <HOIST_HOME>/images)", pathValue("--image-store", { code: "Config.InvalidImageStore" }))
    .option("--verify-timeout <seconds>", "longest wait for an image's boot check (60–7200)", wholeNumber("--verify-timeout", 60, 7200), 900)
    .option("--no-jobs", "serve the API only: no provider, no background work (replication jobs cannot run)")
    .option("--max-event-streams <n>", "most live-update streams (GET /v1/events) open at once; consoles beyond it poll (0–10000)", wholeNumber("--max-event-streams", 0, 10000), 50)
    .addOption(new Option("--hour-seconds <n>", "length of one hour of a job's Frequency, for tests").argParser(wholeNumber("--hour-seconds", 1, 3600)).default(3600).hideHelp())
    .addOption(new Option("--log-level <level>", "least level printed on stderr").choices(["debug", "info", "warn", "error"]).default("info"))
    .addHelpText(
      "after",
      `
Transport: plain HTTP unless --tls-cert and --tls-key are given (then HTTPS). Over plain HTTP,
API keys and agent tokens cross the network in clear: use TLS, or a TLS proxy, beyond one host.
Agents trusting a self-signed certificate need NODE_EXTRA_CA_CERTS=<cert.pem>.

Jobs: with --provider local (the default) each job's intermediate instance is a receiver process
on this host (under $HOIST_HOME/instances, run as root), images land in the image store and are
booted under QEMU to prove they work. With --provider alibaba each job runs in Alibaba Cloud in
its RegionId (jobs without one: --region), with its NetMode, VpcId, VSwitchId and InstanceType:
an ECS intermediate instance, cloud disks, snapshots, a custom image booted once to prove it,
and everything temporary released (docs/alibaba-provider.md lists every API call); a job with
TargetType TargetInstance and InstanceId migrates onto that existing ECS instance instead (its
disks snapshotted first and rolled back if it is cancelled or fails its boot check; the local
provider refuses such jobs). Its AccessKey
comes from ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET or --credentials-file
(mode 0600), and is never logged or stored. Background steps run on a job queue in the same
database (pg-boss), so replicas sharing a PostgreSQL share the work; a replica that dies mid-step
leaves a lease that runs out after 30 s, and another replica goes on (a server restarted on the
embedded database takes its jobs up at once). A step a run finished is never done again.

Database: embedded PostgreSQL (PGlite) in <data-dir>/pgdata, one server per folder (a second is
refused with Database.InUse; the folder of a server that was killed is taken over); with
DATABASE_URL=postgres://user:pass@host/db a PostgreSQL server instead, which several replicas
can share. Migrations run at start under an advisory lock.

Web console: open the server's URL in a browser and paste the API key; the API stays under /v1.

API key: every API call needs Authorization: Bearer <key>. On first start the server creates an
admin key and prints it once ("Admin API key (shown once): …"); or set HOIST_API_KEY to choose it.

When ready it prints one JSON line on stdout: {"event":"ready","url":…,"port":…,"database":…,"pid":…}`,
    )
    .action(
      async (opts: {
        port: number;
        listen: string;
        dataDir: string;
        publicUrl?: string;
        tlsCert?: string;
        tlsKey?: string;
        heartbeatSeconds: number;
        offlineAfterSeconds?: number;
        logLevel: LogLevel;
        imageStore?: string;
        verifyTimeout: number;
        jobs: boolean;
        hourSeconds: number;
        maxEventStreams: number;
      } & ServerProviderFlags) => {
        if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new HoistError("Config.TlsIncomplete", "--tls-cert and --tls-key go together", { fix: "Pass both, or neither for plain HTTP." });
        if (opts.tlsCert && opts.tlsKey) checkTlsFiles(opts.tlsCert, opts.tlsKey);
        // Loaded here, not at the top: every other command (an agent, a receiver) would carry the server in memory.
        const { checkEnvApiKey, databaseUrlFromEnv, openPglite, openPostgres, startServer } = await import("@hoist/server");
        const logger = createLogger({ console: process.stderr, consoleLevel: opts.logLevel });
        const envKey = process.env["HOIST_API_KEY"] || undefined;
        if (envKey) logger.addSecret(checkEnvApiKey(envKey));
        // The provider is checked whole (its flags, the AccessKey) before the database is opened.
        const provider = opts.jobs ? serverProvider(opts, logger) : undefined;
        const url = databaseUrlFromEnv();
        if (url) logger.addSecret(url);
        const db = url ? await openPostgres(url) : await openPglite(join(opts.dataDir, "pgdata"));
        const self = hoistCommand()[1];
        const server = await startServer({
          db,
          logger,
          port: opts.port,
          listen: opts.listen,
          version: VERSION,
          apiKey: envKey,
          tls: opts.tlsCert && opts.tlsKey ? { certFile: opts.tlsCert, keyFile: opts.tlsKey } : undefined,
          publicUrl: opts.publicUrl,
          heartbeatSeconds: opts.heartbeatSeconds,
          offlineAfterSeconds: opts.offlineAfterSeconds,
          agentBundle: self?.endsWith(".mjs") ? self : undefined,
          provider,
          regionId: defaultRegion(opts),
          verifyTimeoutSeconds: opts.verifyTimeout,
          hourSeconds: opts.hourSeconds,
          consoleDir: consoleDir(),
          events: { maxClients: opts.maxEventStreams },
        }).catch(async (e: unknown) => {
          await db.close().catch(() => {});
          throw e;
        });
        if (server.createdApiKey) process.stdout.write(`Admin API key (shown once): ${server.createdApiKey}\n`);
        process.stdout.write(`${JSON.stringify({ event: "ready", url: server.url, port: server.port, database: db.kind, pid: process.pid })}\n`);
        await new Promise<void>((resolve) => {
          const stop = (signal: string) => {
            logger.info("server stopping", { signal });
            server
              .close()
              .then(() => db.close())
              .then(resolve, resolve);
          };
          process.once("SIGINT", () => stop("SIGINT"));
          process.once("SIGTERM", () => stop("SIGTERM"));
        });
      },
    );
}
