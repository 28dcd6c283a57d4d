/**
 * The gpu.js backend's Buf: `size` float32 numbers that live on the device.
 *
 * - On GL the numbers are a texture that kernels write and read without leaving the GPU
 *   (gpu.js `pipeline: true`); only toArray() reads them back.
 * - On webasm and cpu the "device" is the host: the numbers are a Float32Array of exactly
 *   `size` elements, passed straight into the next kernel.
 *
 * A GpuBuf is never written after it is made: each kernel call returns a new one. free()
 * releases it; using it afterwards throws (a texture that was deleted would otherwise be
 * recycled by gpu.js as some later kernel's output and silently read garbage).
 */
import type { Texture } from 'gpu.js';

export class GpuBuf {
  freed = false;
  /** GL: host memory the garbage collector can see, standing in for the texture (runner.ts) */
  gcWeight?: ArrayBuffer;
  constructor(
    readonly size: number,
    /** a Float32Array (webasm, cpu, and empty buffers) or a gpu.js texture (GL) */
    public data: Float32Array | Texture,
  ) {}

  get isTexture(): boolean {
    return !(this.data instanceof Float32Array);
  }
}

export function asGpuBuf(buf: unknown, op: string): GpuBuf {
  if (!(buf instanceof GpuBuf)) {
    throw new Error(`${op}: this buffer does not belong to the gpu.js backend (tensors on different backends cannot be mixed)`);
  }
  if (buf.freed) throw new Error(`${op}: this buffer was freed (disposed tensor, or storage collected while still in use)`);
  return buf;
}

/**
 * A CPU-mode kernel result as one flat Float32Array of `length` numbers. gpu.js hands back a
 * 2-D/3-D (or Array(4)) output as nested arrays; on webasm those are subarrays of one fresh
 * buffer in row-major order, which we view without copying. Anything else is copied in order.
 */
export function flattenResult(result: any, length: number): Float32Array {
  if (result instanceof Float32Array) return result.length === length ? result : result.slice(0, length);
  let leaf = result;
  while (leaf && !(leaf instanceof Float32Array) && leaf.length !== undefined) leaf = leaf[0];
  if (leaf instanceof Float32Array && leaf.byteOffset === 0 && leaf.buffer.byteLength === length * 4) {
    return new Float32Array(leaf.buffer, 0, length);
  }
  const out = new Float32Array(length);
  let at = 0;
  const walk = (v: any): void => {
    if (typeof v === 'number') out[at++] = v;
    else if (v instanceof Float32Array) {
      out.set(v, at);
      at += v.length;
    } else for (let i = 0; i < v.length; i++) walk(v[i]);
  };
  walk(result);
  if (at !== length) throw new Error(`gpujs: a kernel returned ${at} numbers where ${length} were expected`);
  return out;
}
