/**
 * Reused output arrays for the webasm mode.
 *
 * A webasm kernel computes into its own WebAssembly memory, and gpu.js copies the output out
 * into a fresh Float32Array at every call. A fresh array is memory the operating system has
 * to map and zero page by page before the copy can write it: measured here, a copy into fresh
 * arrays ran at 1-1.8 G floats/s and one into arrays already in use at 8.7 G floats/s, and in
 * a unet-tiny training step (batch 32, one thread) the output copies took about 17% of the
 * step. The pool keeps the arrays of freed buffers (tensor.dispose(), tidy(), the backend's
 * own temporaries, and storages the garbage collector found dead) and hands them out again to
 * the next output of the same length.
 *
 * Only arrays the pool made itself are ever reused (an array a caller gave the backend, or one
 * it got back from toArray(), is never written behind its owner's back), an array is idle in
 * the pool at most once, and the idle arrays together stay under `capBytes`: past that the
 * pool lets go of all of them (the lengths a program uses change with what it does: training,
 * then a sample grid).
 */
export class HostPool {
  /** idle arrays by length */
  private readonly idle = new Map<number, Float32Array[]>();
  /** the buffers of the arrays this pool made */
  private readonly owned = new WeakSet<ArrayBuffer>();
  /** the buffers idle now, so that a second release of one array cannot hand it out twice */
  private readonly idleSet = new WeakSet<ArrayBuffer>();
  private idleBytes = 0;
  /** outputs served from an idle array / from a new one */
  hits = 0;
  misses = 0;

  constructor(readonly capBytes: number) {}

  /** An array of `length` floats to overwrite completely: an idle one, else a new one. */
  acquire(length: number): Float32Array {
    const reused = this.idle.get(length)?.pop();
    if (reused) {
      this.idleSet.delete(reused.buffer as ArrayBuffer);
      this.idleBytes -= reused.byteLength;
      this.hits++;
      return reused;
    }
    this.misses++;
    const fresh = new Float32Array(length);
    this.owned.add(fresh.buffer);
    return fresh;
  }

  /** Take back an array whose buffer nothing uses any more; arrays the pool did not make are ignored. */
  release(array: Float32Array): void {
    const buffer = array.buffer as ArrayBuffer;
    if (array.length === 0 || !this.owned.has(buffer) || this.idleSet.has(buffer)) return;
    if (array.byteOffset !== 0 || array.byteLength !== buffer.byteLength) return; // a view of part of one: not ours to recycle
    if (array.byteLength > this.capBytes) return;
    if (this.idleBytes + array.byteLength > this.capBytes) this.clear();
    let list = this.idle.get(array.length);
    if (!list) this.idle.set(array.length, (list = []));
    list.push(array);
    this.idleSet.add(buffer);
    this.idleBytes += array.byteLength;
  }

  /** Let go of every idle array (the garbage collector frees them). */
  clear(): void {
    for (const list of this.idle.values()) for (const a of list) this.idleSet.delete(a.buffer as ArrayBuffer);
    this.idle.clear();
    this.idleBytes = 0;
  }

  stats(): { idleBytes: number; hits: number; misses: number } {
    return { idleBytes: this.idleBytes, hits: this.hits, misses: this.misses };
  }
}
