// Test hosts on one machine: each host is a network namespace, and two hosts
// are joined by a veth pair whose link can be shaped — rate with `tc … tbf`,
// random loss with an nftables `numgen random` drop rule, and cut with a
// drop-all rule or by taking the link down. (This kernel has no netem; added
// latency and stalls come from the delaying proxy in delay-proxy.ts.)
//
// The test process itself stays in the root namespace; `manage(host)` gives it
// an unshaped link of its own to a host (for a control API, say). Everything
// a test net creates lives inside its namespaces, so deleting them removes the
// veths, qdiscs and nftables tables with them. Namespace names carry the pid
// of the process that made them, so a sweep removes only those whose maker
// has died.
import { type ChildProcess, execFileSync, type SpawnOptions, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";

export const NETNS_PREFIX = "hoistt";

export interface TestHost {
  /** Short name given by the test ("agent", "receiver"). */
  name: string;
  /** The namespace's name for `ip netns exec`. */
  ns: string;
  /** This host's address on the shaped link. */
  address: string;
  /** This host's end of the shaped link. */
  device: string;
}

export interface LinkShape {
  /** Egress rate of both ends, in kbit/s (tbf); undefined: unlimited. */
  rateKbit?: number;
  /** Percent (0–100) of packets dropped at random on arrival at either end. */
  lossPercent?: number;
}

export interface TestNet {
  id: string;
  a: TestHost;
  b: TestHost;
  host(name: string): TestHost;
  /** Runs a command inside a host's namespace and waits for it. */
  run(host: TestHost, cmd: string, args: readonly string[], timeoutMs?: number): string;
  /** Starts a process inside a host's namespace (`ip netns exec` execs it, so its pid is the process's own). */
  spawn(host: TestHost, cmd: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /** An unshaped link from the root namespace to `host`; returns the address to reach it at. */
  manage(host: TestHost): string;
  shape(shape: LinkShape): void;
  /** Blackholes the link in both directions: each end drops everything that arrives, so senders see no error, only silence. */
  cut(): void;
  /** Takes the link down (the kernel sees no carrier). */
  down(): void;
  /** Undoes cut() and down(). */
  restore(): void;
  destroy(): void;
}

function ip(args: readonly string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 });
}

function inNs(ns: string, cmd: string, args: readonly string[], input?: string): string {
  return execFileSync("ip", ["netns", "exec", ns, cmd, ...args], { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], timeout: 20_000 });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Deletes test namespaces whose creating process is gone. */
export function sweepStaleNamespaces(): string[] {
  const removed: string[] = [];
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const line of list.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const m = new RegExp(`^${NETNS_PREFIX}-(\\d+)-`).exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    spawnSync("ip", ["netns", "del", name]);
    removed.push(name);
  }
  return removed;
}

function usedSubnets(): Set<string> {
  const out = spawnSync("ip", ["-4", "-o", "addr"], { encoding: "utf8" }).stdout ?? "";
  return new Set([...out.matchAll(/inet (\d+\.\d+\.\d+)\./g)].map((m) => m[1]!));
}

/** A /24 in 10.0.0.0/8 that no interface of the root namespace uses. */
function freeSubnet(): string {
  const used = usedSubnets();
  for (let i = 0; i < 50; i++) {
    const candidate = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!used.has(candidate)) return candidate;
  }
  throw new Error("no free 10.x subnet for a test net");
}

const TABLE = "hoist_test";

/** Makes two hosts joined by a veth pair. Call destroy() in a finally or afterAll. */
export function createTestNet(nameA: string, nameB: string): TestNet {
  sweepStaleNamespaces();
  const id = randomBytes(3).toString("hex");
  const subnet = freeSubnet();
  const nsOf = (name: string) => `${NETNS_PREFIX}-${process.pid}-${id}-${name}`;
  // Interface names are at most 15 characters.
  const a: TestHost = { name: nameA, ns: nsOf(nameA), address: `${subnet}.1`, device: `ht${id}a` };
  const b: TestHost = { name: nameB, ns: nsOf(nameB), address: `${subnet}.2`, device: `ht${id}b` };
  const created: string[] = [];
  let managed = 0;
  let shaped = false;
  const destroy = () => {
    for (const ns of created.splice(0)) spawnSync("ip", ["netns", "del", ns]);
  };
  try {
    for (const h of [a, b]) {
      ip(["netns", "add", h.ns]);
      created.push(h.ns);
      inNs(h.ns, "ip", ["link", "set", "lo", "up"]);
    }
    ip(["link", "add", a.device, "netns", a.ns, "type", "veth", "peer", "name", b.device, "netns", b.ns]);
    for (const h of [a, b]) {
      inNs(h.ns, "ip", ["addr", "add", `${h.address}/24`, "dev", h.device]);
      inNs(h.ns, "ip", ["link", "set", h.device, "up"]);
      // One table per host with a chain for loss and one for cuts, so each can be flushed alone.
      inNs(
        h.ns,
        "nft",
        ["-f", "-"],
        `table inet ${TABLE} {
  chain loss { type filter hook input priority -10; policy accept; }
  chain cut { type filter hook input priority -20; policy accept; }
}
`,
      );
    }
  } catch (e) {
    destroy();
    throw e;
  }
  const hosts = [a, b];
  const net: TestNet = {
    id,
    a,
    b,
    host(name) {
      const h = hosts.find((x) => x.name === name);
      if (!h) throw new Error(`no test host ${name}`);
      return h;
    },
    run(host, cmd, args, timeoutMs = 60_000) {
      return execFileSync("ip", ["netns", "exec", host.ns, cmd, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
    },
    spawn(host, cmd, args, options = {}) {
      return spawn("ip", ["netns", "exec", host.ns, cmd, ...args], options);
    },
    manage(host) {
      managed += 1;
      if (managed > 8) throw new Error("too many management links");
      const rootDev = `ht${id}m${managed}`;
      const nsDev = `ht${id}n${managed}`;
      // A /30 inside the net's /24; inside the host the longer prefix wins over the shaped link's route.
      const base = 100 + managed * 4;
      const rootAddr = `${subnet}.${base + 1}`;
      const nsAddr = `${subnet}.${base + 2}`;
      ip(["link", "add", rootDev, "type", "veth", "peer", "name", nsDev, "netns", host.ns]);
      // The root end lives in the root namespace; deleting the host's namespace deletes the pair.
      try {
        ip(["addr", "add", `${rootAddr}/30`, "dev", rootDev]);
        ip(["link", "set", rootDev, "up"]);
        inNs(host.ns, "ip", ["addr", "add", `${nsAddr}/30`, "dev", nsDev]);
        inNs(host.ns, "ip", ["link", "set", nsDev, "up"]);
      } catch (e) {
        spawnSync("ip", ["link", "del", rootDev]);
        throw e;
      }
      return nsAddr;
    },
    shape(s) {
      for (const h of hosts) {
        inNs(h.ns, "nft", ["flush", "chain", "inet", TABLE, "loss"]);
        if (s.lossPercent !== undefined && s.lossPercent > 0) {
          const n = Math.round(s.lossPercent);
          if (n < 0 || n > 100) throw new Error(`loss ${s.lossPercent}% is outside 0–100`);
          inNs(h.ns, "nft", ["add", "rule", "inet", TABLE, "loss", "iifname", h.device, "numgen", "random", "mod", "100", "<", String(n), "drop"]);
        }
        if (shaped) spawnSync("ip", ["netns", "exec", h.ns, "tc", "qdisc", "del", "dev", h.device, "root"]);
        if (s.rateKbit !== undefined) {
          // A burst of a few ms at this rate, at least one MTU-sized packet; latency bounds the queue.
          const burstBytes = Math.max(3000, Math.round((s.rateKbit * 1000) / 8 / 200));
          inNs(h.ns, "tc", ["qdisc", "add", "dev", h.device, "root", "tbf", "rate", `${s.rateKbit}kbit`, "burst", String(burstBytes), "latency", "200ms"]);
        }
      }
      shaped = s.rateKbit !== undefined;
    },
    cut() {
      for (const h of hosts) {
        inNs(h.ns, "nft", ["add", "rule", "inet", TABLE, "cut", "iifname", h.device, "drop"]);
      }
    },
    down() {
      inNs(a.ns, "ip", ["link", "set", a.device, "down"]);
    },
    restore() {
      for (const h of hosts) {
        inNs(h.ns, "nft", ["flush", "chain", "inet", TABLE, "cut"]);
        inNs(h.ns, "ip", ["link", "set", h.device, "up"]);
      }
    },
    destroy,
  };
  return net;
}

/** Bytes a host's end of the shaped link has sent and received (from the kernel's counters). */
export function linkCounters(net: TestNet, host: TestHost): { tx: number; rx: number } {
  const read = (what: string) => Number(net.run(host, "cat", [`/sys/class/net/${host.device}/statistics/${what}_bytes`]).trim());
  return { tx: read("tx"), rx: read("rx") };
}
