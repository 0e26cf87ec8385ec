// Reusable memory for block chunks. A block copy moves thousands of 4 MiB
// chunks; a fresh allocation for each costs page faults on first touch and a
// garbage collection later, which took more of the receiver's time than the
// copy itself. Every buffer handed out owns its whole ArrayBuffer, so it can
// be moved to a chunk worker and back and then returned here.

export class ChunkPool {
  private readonly free: ArrayBuffer[] = [];

  /** `bytes`: the size of every pooled buffer; `keep`: how many idle ones to hold at most. */
  constructor(
    readonly bytes: number,
    private readonly keep = 32,
  ) {}

  /** A buffer of `length` bytes (its content is whatever was there) at the start of its own memory. */
  take(length: number): Buffer {
    if (length > this.bytes) return Buffer.allocUnsafeSlow(length);
    const ab = this.free.pop() ?? (Buffer.allocUnsafeSlow(this.bytes).buffer as ArrayBuffer);
    return Buffer.from(ab, 0, length);
  }

  /** Hands memory back; anything not made by this pool (another size, detached, shared) is left to the GC. */
  give(memory: Buffer | ArrayBuffer | null | undefined): void {
    if (!memory) return;
    const ab = memory instanceof ArrayBuffer ? memory : memory.buffer;
    if (!(ab instanceof ArrayBuffer) || ab.byteLength !== this.bytes || this.free.length >= this.keep) return;
    if (!this.free.includes(ab)) this.free.push(ab);
  }

  get idle(): number {
    return this.free.length;
  }
}
