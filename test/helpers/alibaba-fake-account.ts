// The contract fake as an end-to-end test's own Alibaba Cloud account: an
// AccessKey pair made up for the test, the fake's state in `<base>/cloud`, and
// receiver ports picked at random so tests that run intermediate instances do
// not meet. What the test then runs (`hoist migrate`, `hoist server`) is
// pointed at the fake by hoistFlags().
import { join } from "node:path";
import { type AlibabaContractFake, type StartFakeOptions, startAlibabaContractFake } from "./alibaba-contract-fake";
import { releaseEverythingUnder } from "./cleanup";

/** Where intermediate instances would fetch the receiver from: the fake runs its own and never fetches it. */
export const RECEIVER_BUNDLE_URL = "https://bundles.example.invalid/hoist.mjs";

export class FakeAlibabaAccount {
  readonly accessKeySecret: string;
  /** The fake's instances, disks and objects. */
  readonly cloud: string;
  /** The receivers' control port; their data port is the next one. */
  readonly controlPort = 20000 + Math.floor(Math.random() * 20000);
  private started: AlibabaContractFake | undefined;

  /** `secretPrefix` begins the secret, so a test that looks for it in output knows it by sight. */
  constructor(
    readonly base: string,
    readonly accessKeyId: string,
    secretPrefix: string,
  ) {
    this.accessKeySecret = `${secretPrefix}-${Math.random().toString(36).slice(2)}`;
    this.cloud = join(base, "cloud");
  }

  async start(options: Omit<StartFakeOptions, "dir" | "accessKeyId" | "accessKeySecret"> = {}): Promise<AlibabaContractFake> {
    this.started = await startAlibabaContractFake({ dir: this.cloud, accessKeyId: this.accessKeyId, accessKeySecret: this.accessKeySecret, ...options });
    return this.started;
  }

  /** The endpoints, receiver bundle URL and receiver ports that point a hoist command at the fake. */
  hoistFlags(): string[] {
    if (!this.started) throw new Error("the Alibaba Cloud contract fake is not started");
    return ["--endpoint-override", this.started.endpoint, "--receiver-bundle-url", RECEIVER_BUNDLE_URL, "--receiver-ports", `${this.controlPort},${this.controlPort + 1}`];
  }

  /** Closes the fake and releases what its instances left under the test's folder (receivers, mounts, loop devices, files). */
  async close(): Promise<void> {
    await this.started?.close();
    releaseEverythingUnder(this.base, this.cloud);
  }
}
