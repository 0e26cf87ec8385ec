// The chunk-hash manifest of one block-replicated target partition: for each
// chunk of the source, the SHA-256 of what the target holds there (all-zero
// bytes: nothing known). A hash is written right after its chunk, so a
// receiver killed mid-copy forgets at most the chunks in flight. Two flags:
// "pristine" (every chunk without a hash still reads as zeros, as after a
// discard) and "touched" (the target was mounted or repaired since, so the
// hashes must be re-read from the target before they are trusted again).
import { open, type FileHandle } from "node:fs/promises";
import { BLOCK_HASH_BYTES } from "@hoist/protocol";

const MAGIC = Buffer.from("HOISTBM1");
const HEAD_BYTES = 32;
const FLAG_PRISTINE = 1;
const FLAG_TOUCHED = 2;

export interface ManifestShape {
  sourceBytes: number;
  chunkBytes: number;
}

export class BlockManifest {
  private constructor(
    private readonly fh: FileHandle,
    readonly shape: ManifestShape,
    readonly count: number,
    readonly hashes: Buffer,
    private flags: number,
  ) {}

  /** Opens the manifest at `path`; one made for another source size or chunk size is started afresh (`fresh` true). */
  static async open(path: string, shape: ManifestShape): Promise<{ manifest: BlockManifest; fresh: boolean }> {
    const count = Math.ceil(shape.sourceBytes / shape.chunkBytes);
    const fh = await open(path, "a+").then(async (h) => {
      await h.close();
      return open(path, "r+");
    });
    const st = await fh.stat();
    const head = Buffer.alloc(HEAD_BYTES);
    if (st.size >= HEAD_BYTES) await fh.read(head, 0, HEAD_BYTES, 0);
    const same = st.size === HEAD_BYTES + count * BLOCK_HASH_BYTES && head.subarray(0, 8).equals(MAGIC) && Number(head.readBigUInt64BE(9)) === shape.sourceBytes && head.readUInt32BE(17) === shape.chunkBytes;
    const hashes = Buffer.alloc(count * BLOCK_HASH_BYTES);
    if (same) {
      if (hashes.length) await fh.read(hashes, 0, hashes.length, HEAD_BYTES);
      return { manifest: new BlockManifest(fh, shape, count, hashes, head.readUInt8(8)), fresh: false };
    }
    await fh.truncate(0);
    MAGIC.copy(head, 0);
    head.writeUInt8(FLAG_PRISTINE, 8);
    head.writeBigUInt64BE(BigInt(shape.sourceBytes), 9);
    head.writeUInt32BE(shape.chunkBytes, 17);
    await fh.write(head, 0, HEAD_BYTES, 0);
    await fh.truncate(HEAD_BYTES + hashes.length);
    await fh.sync();
    return { manifest: new BlockManifest(fh, shape, count, hashes, FLAG_PRISTINE), fresh: true };
  }

  get pristine(): boolean {
    return (this.flags & FLAG_PRISTINE) !== 0;
  }

  get touched(): boolean {
    return (this.flags & FLAG_TOUCHED) !== 0;
  }

  private async writeFlags(): Promise<void> {
    const b = Buffer.from([this.flags]);
    await this.fh.write(b, 0, 1, 8);
    await this.fh.sync();
  }

  async setPristine(on: boolean): Promise<void> {
    this.flags = on ? this.flags | FLAG_PRISTINE : this.flags & ~FLAG_PRISTINE;
    await this.writeFlags();
  }

  async setTouched(on: boolean): Promise<void> {
    this.flags = on ? this.flags | FLAG_TOUCHED : this.flags & ~FLAG_TOUCHED;
    await this.writeFlags();
  }

  hashAt(index: number): Buffer {
    return this.hashes.subarray(index * BLOCK_HASH_BYTES, (index + 1) * BLOCK_HASH_BYTES);
  }

  known(index: number): boolean {
    return this.hashAt(index).some((b) => b !== 0);
  }

  async set(index: number, hash: Buffer): Promise<void> {
    hash.copy(this.hashes, index * BLOCK_HASH_BYTES, 0, BLOCK_HASH_BYTES);
    await this.fh.write(this.hashes, index * BLOCK_HASH_BYTES, BLOCK_HASH_BYTES, HEAD_BYTES + index * BLOCK_HASH_BYTES);
  }

  async clear(index: number): Promise<void> {
    await this.set(index, Buffer.alloc(BLOCK_HASH_BYTES));
  }

  async sync(): Promise<void> {
    await this.fh.sync();
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
