// The command-line flags of `hoist migrate`: go2aliyun_client's own, spelled
// the same way, plus Hoist's. Flags arrive as text; turning them into typed
// settings (and refusing bad ones) happens in resolve.ts with the same codes
// as the user_config.json fields they override.
import { Command } from "commander";
import { HoistError } from "@hoist/protocol";

export interface MigrateFlags {
  accessid?: string;
  secretkey?: string;
  regionid?: string;
  imagename?: string;
  systemdisksize?: string;
  platform?: string;
  datadisks?: string;
  bandwidthlimit?: string;
  netmode?: string;
  vpcid?: string;
  vswitchid?: string;
  zoneid?: string;
  securegroupid?: string;
  cleardata?: boolean;
  abort?: boolean;
  verbose?: boolean;
  progressfile?: string;
  nocheckversion?: boolean;
  noenterkey?: boolean;
  workdir?: string;
  sourceRoot?: string;
  compression?: string;
  checksum?: boolean;
  streams?: string;
  lvm?: boolean;
  separateBoot?: boolean;
  blockPartitions?: string;
  yes?: boolean;
}

const OPTIONS: readonly [flags: string, description: string][] = [
  ["--accessid <id>", "AccessKey ID (overrides access_id; not needed for the local region)"],
  ["--secretkey <secret>", "AccessKey secret (overrides secret_key; never written to client_data or logs)"],
  ["--regionid <region>", 'target region (overrides region_id); "local" puts the image in this host\'s image store'],
  ["--imagename <name>", "name of the image to create, 2-128 characters (overrides image_name)"],
  ["--systemdisksize <GiB>", "system disk size in GiB, 20-500 (overrides system_disk_size)"],
  ["--platform <name>", 'source operating system, case-sensitive, e.g. "CentOS", "Debian", "Others Linux" (overrides platform)'],
  ["--datadisks <list>", "data disks as index|GiB|src_path entries joined by ';', e.g. 1|100|/mnt/disk1;2|150|/mnt/disk2 (replaces data_disks)"],
  ["--bandwidthlimit <KBps>", "transfer bandwidth limit in KB/s, 0 = unlimited (overrides bandwidth_limit)"],
  ["--netmode <mode>", "how the source reaches the intermediate instance: 0 its public IP (default), 1 its private IP in --vpcid/--vswitchid, 2 its public IP inside --vpcid/--vswitchid"],
  ["--vpcid <id>", "VPC to create the intermediate instance in (netmode 1 and 2)"],
  ["--vswitchid <id>", "vSwitch to create the intermediate instance in (netmode 1 and 2)"],
  ["--zoneid <id>", "zone to create the intermediate instance in"],
  ["--securegroupid <id>", "security group for the intermediate instance; it must allow inbound 8080 and 8703"],
  ["--cleardata", "clear client_data first and start the migration from the beginning"],
  ["--abort", "stop a hoist migrate running in this working folder; run again later to resume"],
  ["--verbose", "print more progress lines and every step"],
  ["--progressfile <file>", "keep the stage (line 1) and percent done (line 2) in this file"],
  ["--nocheckversion", "accepted as go2aliyun_client takes it; hoist never checks for a newer release, so it changes nothing"],
  ["--noenterkey", "do not wait for the Enter key before exiting"],
  ["--workdir <dir>", "folder with user_config.json, Excludes/, client_data and Logs/ (default: the current folder)"],
  ["--source-root <dir>", "migrate the Linux tree in this folder instead of the running system (default: /)"],
  ["--compression <level>", "rsync compression level 0-10, 0 = off (overrides compression_level, default 7)"],
  ["--checksum", "compare files by checksum, not only size and time (overrides checksum)"],
  ["--streams <n>", "parallel rsync streams 1-16 (overrides parallel_streams, default 4)"],
  ["--lvm", "rebuild each target disk as one LVM PV with VG vgX and an LV lvY per mount point; needs --separate-boot (overrides lvm)"],
  ["--separate-boot", "give the system disk a separate /boot partition (overrides separate_boot)"],
  [
    "--block-partitions <list>",
    'copy these mount points by block instead of by file, comma-separated: "/" and/or data disk src_paths; each must be its own ext4, xfs or vfat partition, keeps its size (the target may be larger and the filesystem is grown), takes no excludes (overrides block_replication)',
  ],
  ["--yes", "answer yes to every question (install rsync, relax SELinux)"],
];

/** Registers the migrate flags on a command, so the command file only writes its action. */
export function addMigrateOptions(cmd: Command): Command {
  for (const [flags, description] of OPTIONS) cmd.option(flags, description);
  return cmd;
}

/** Parses `hoist migrate` arguments (without the command name) into flags. */
export function parseMigrateFlags(argv: readonly string[]): MigrateFlags {
  const cmd = addMigrateOptions(new Command("migrate"))
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined })
    .allowExcessArguments(false);
  try {
    cmd.parse([...argv], { from: "user" });
  } catch (e) {
    const text = e instanceof Error ? e.message.replace(/^error: /, "") : String(e);
    const unknown = (e as { code?: string }).code === "commander.unknownOption";
    throw new HoistError(unknown ? "Config.UnknownFlag" : "Config.InvalidFlag", `hoist migrate: ${text}`, {
      fix: "Run `hoist migrate --help` for the flags and their values.",
    });
  }
  return cmd.opts<MigrateFlags>();
}
