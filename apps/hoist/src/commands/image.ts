import { checkImage, defaultImageStore, exportImage, listImages, removeImage, validateImageName, verifyImage } from "@hoist/images";
import { createLogger } from "@hoist/runtime";
import { type Command, Option } from "commander";
import { pathValue, wholeNumber } from "./flag-values";

interface StoreOpts {
  imageStore?: string;
}

const store = (o: StoreOpts): string => o.imageStore ?? defaultImageStore();

const gib = (bytes: number): string => `${Math.round(bytes / 1024 ** 3)} GiB`;

export function registerImageCommand(program: Command): void {
  const image = program
    .command("image")
    .description("Manage the local image store: list, check, boot-verify, export and remove migrated images.")
    .addHelpText("after", "\nThe store is --image-store, else $HOIST_IMAGE_STORE, else /var/lib/hoist/images. Each image is a folder with one qcow2 file per disk and manifest.json.");
  const storeOption = (): Option =>
    new Option("--image-store <dir>", "image store folder (default: $HOIST_IMAGE_STORE or /var/lib/hoist/images)").argParser(pathValue("--image-store", { code: "Config.InvalidImageStore" }));

  image
    .command("list")
    .description("List the images in the store with their disks and verification status.")
    .addOption(storeOption())
    .option("--json", "print the manifests as a JSON array")
    .action((o: StoreOpts & { json?: boolean }) => {
      const all = listImages(store(o));
      if (o.json) {
        process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
        return;
      }
      if (all.length === 0) {
        process.stdout.write(`No images in ${store(o)}.\n`);
        return;
      }
      for (const m of all) {
        const disks = m.disks.map((d) => `${d.key}:${gib(d.virtualSizeBytes)}`).join(" ");
        const v = m.verification;
        process.stdout.write(`${m.name}\t${m.region}\t${m.bootMode}\t${disks}\t${v.status}${v.bootSeconds !== undefined ? ` (${v.bootSeconds} s)` : ""}\t${m.createdAt}\n`);
      }
    });

  image
    .command("rm")
    .description("Remove an image and its disk files from the store.")
    .argument("<name>", "image name", (v: string) => validateImageName(v))
    .addOption(storeOption())
    .action((name: string, o: StoreOpts) => {
      removeImage(store(o), name);
      process.stdout.write(`Removed ${name}.\n`);
    });

  image
    .command("export")
    .description("Write an image's disks to files: the system disk to --output, each data disk beside it as <output-stem>-diskN.<ext>.")
    .argument("<name>", "image name", (v: string) => validateImageName(v))
    .addOption(new Option("--format <format>", "disk file format").choices(["raw", "qcow2"]).makeOptionMandatory())
    .requiredOption("--output <file>", "file for the system disk (must not exist)", pathValue("--output", { exists: "absent", code: "Config.InvalidOutput" }))
    .addOption(storeOption())
    .action(async (name: string, o: StoreOpts & { format: "raw" | "qcow2"; output: string }) => {
      const files = await exportImage(store(o), name, o.format, o.output);
      for (const f of files) process.stdout.write(`${f}\n`);
    });

  image
    .command("verify")
    .description("Boot the image under QEMU (KVM if usable, else TCG) without changing it, and wait for multi-user with every fstab filesystem mounted. Exits 1 if it does not boot.")
    .argument("<name>", "image name", (v: string) => validateImageName(v))
    .option("--timeout <seconds>", "give up after this many seconds (10–86400)", wholeNumber("--timeout", 10, 86400, "Config.InvalidTimeout"), 600)
    .option("--json", "print the result as JSON")
    .addOption(storeOption())
    .action(async (name: string, o: StoreOpts & { timeout: number; json?: boolean }) => {
      const logger = createLogger({ console: process.stderr, consoleLevel: "info" });
      const r = await verifyImage(store(o), name, { timeoutSeconds: o.timeout, log: logger });
      if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else process.stdout.write(`${r.booted ? "booted" : "failed"} in ${r.bootSeconds} s; all filesystems mounted: ${r.mountedAll ? "yes" : "no"}${r.reason ? `; ${r.reason}` : ""}\nconsole log: ${r.consoleLogPath}\n`);
      if (!r.booted || !r.mountedAll) process.exitCode = 1;
    });

  image
    .command("check")
    .description("Check an image without booting it: fstab and grub.cfg against the filesystems in it, virtio drivers in the initramfs, a bootloader and DHCP. Exits 1 on any Critical finding.")
    .argument("<name>", "image name", (v: string) => validateImageName(v))
    .option("--json", "print the findings as JSON")
    .addOption(storeOption())
    .action(async (name: string, o: StoreOpts & { json?: boolean }) => {
      const findings = await checkImage(store(o), name);
      if (o.json) process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`);
      else if (findings.length === 0) process.stdout.write(`${name}: no findings.\n`);
      else for (const f of findings) process.stdout.write(`${f.severity}\t${f.code}\t${f.message}\n\tfix: ${f.fix}\n`);
      if (findings.some((f) => f.severity === "Critical")) process.exitCode = 1;
    });
}
