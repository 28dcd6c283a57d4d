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

/**
 * Rows at least this long run on a row grid (copyStridedRowsSource); shorter ones stay flat,
 * since a row of fewer than 4 cells is all scalar tail on webasm.
 */
export const COPY_ROW_GRID_MIN = 8;

/**
 * A copy whose innermost (coalesced) dim is at least COPY_ROW_GRID_MIN long, on a grid of
 * [innermost, next, the rest] (rank 2: [innermost, next]): thread.x is the innermost index
 * itself and thread.y the next, so no cell divides for them, and the rest (thread.z, rank 4
 * and up) is split into its dims once per row, by values every lane of a row shares. With
 * stride 1 innermost the read is `src[this.thread.x + row start]`, a vector load of 4
 * consecutive floats on webasm with the code-generator patch (its D); a flat copy's
 * `src[srcAt]` is a gather of 4 scalar loads, after a floor division per dim in every cell.
 * Measured on the slice copies of a unet-tiny step (a concat's backward): see kernels/README.md.
 */
function copyStridedRowsSource(rank: number, innerStride: number): string {
  const st = (d: number) => `this.constants.srcStride${d}`;
  const lines = ['const srcAt = Math.floor(srcOffset);'];
  let row: string;
  if (rank === 2) row = `this.thread.y * ${st(0)}`;
  else if (rank === 3) row = `this.thread.z * ${st(0)} + this.thread.y * ${st(1)}`;
  else {
    // thread.z indexes dims 0 .. rank - 3, innermost first
    lines.push('let rest = this.thread.z;', 'let outer = 0;');
    for (let d = rank - 3; d >= 1; d--) {
      lines.push(floorDivSource(`q${d}`, 'rest', `this.constants.size${d}`));
      lines.push(`outer = outer + (rest - q${d} * this.constants.size${d}) * ${st(d)};`, `rest = q${d};`);
    }
    lines.push(`outer = outer + rest * ${st(0)};`, 'const outerAt = Math.floor(outer);');
    row = `outerAt + this.thread.y * ${st(rank - 2)}`;
  }
  lines.push(`const rowAt = ${row};`);
  const read = innerStride === 1 ? 'src[this.thread.x + srcAt + rowAt]' : `src[srcAt + rowAt + this.thread.x * ${st(rank - 1)}]`;
  return `function copyStrided(src, srcOffset) {
  ${lines.join('\n  ')}
  return ${read};
}`;
}

/** Call with (src, srcOffset). */
export function copyStridedSpec(c: Coalesced, size: number): KernelSpec {
  const rank = c.shape.length;
  const constants = stridedConstants(c, ['src']);
  if (rank >= 2 && c.shape[rank - 1] >= COPY_ROW_GRID_MIN) {
    const rows = c.shape.slice(0, rank - 2).reduce((a, b) => a * b, 1);
    const output = rank === 2 ? [c.shape[1], c.shape[0]] : [c.shape[rank - 1], c.shape[rank - 2], rows];
    return { name: 'copyStrided', source: copyStridedRowsSource(rank, c.strides[0][rank - 1]), output, constants };
  }
  const source = `function copyStrided(src, srcOffset) {
  ${stridedReadsSource(rank, ['src'])}
  return src[srcAt];
}`;
  return { name: 'copyStrided', source, output: [size], constants };
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
