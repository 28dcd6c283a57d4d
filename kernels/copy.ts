/**
 * Layout kernels: moving numbers without arithmetic.
 *
 *   upload:       out[t] = data[t]                      a host array into device memory (GL)
 *   copyStrided:  out[t] = src[srcOffset + sum_d i_d(t) * stride_d]   (index math: strided.ts)
 *   concat:       out[row, col] = part p[row, col - start_p] for the part whose columns hold col,
 *                 with row = floor(t / total), col = t - row * total, start_p = w_0 + ... + w_{p-1}
 */
import type { KernelSpec, KernelThis } from './kernel';
import { floorDivSource } from './kernel';
import { Coalesced, stridedConstants, stridedReadsSource } from './strided';

function upload(this: KernelThis, data: Float32Array): number {
  return data[this.thread.x];
}

export function uploadSpec(size: number): KernelSpec {
  return { name: 'upload', source: upload, output: [size], constants: {} };
}

/** Call with (src, srcOffset). */
export function copyStridedSpec(c: Coalesced, size: number): KernelSpec {
  const source = `function copyStrided(src, srcOffset) {
  ${stridedReadsSource(c.shape.length, ['src'])}
  return src[srcAt];
}`;
  return { name: 'copyStrided', source, output: [size], constants: stridedConstants(c, ['src']) };
}

/**
 * Join `widths.length` parts (at most MAX_CONCAT_PARTS; the backend joins more in rounds),
 * called with the parts in order. Walks the parts left to right, subtracting each width.
 */
export function concatSpec(widths: number[], outer: number): KernelSpec {
  const total = widths.reduce((a, b) => a + b, 0);
  const constants: Record<string, number> = { total };
  const cases = widths.map((w, p) => {
    constants[`width${p}`] = w;
    return `if (col < this.constants.width${p}) {
    return part${p}[row * this.constants.width${p} + col];
  }
  col = col - this.constants.width${p};`;
  });
  const source = `function concat(${widths.map((_, p) => `part${p}`).join(', ')}) {
  ${floorDivSource('row', 'this.thread.x', 'this.constants.total')}
  let col = this.thread.x - row * this.constants.total;
  ${cases.join('\n  ')}
  return 0;
}`;
  return { name: `concat`, source, output: [outer * total], constants };
}

/** WebGL guarantees 8 texture units per kernel; one concat kernel takes at most this many parts. */
export const MAX_CONCAT_PARTS = 8;
