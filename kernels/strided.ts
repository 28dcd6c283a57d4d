/**
 * Strided reads: the N-d index math shared by copyStrided, binary and where.
 *
 * A view reads element [i0, ..., ik] of its buffer at offset + sum_d i_d * stride_d. A kernel
 * thread owns one element of the contiguous output, flat index t, and recovers its
 * coordinates from the innermost dim outwards:
 *
 *   i_k = t mod size_k,  t' = floor(t / size_k),  i_{k-1} = t' mod size_{k-1},  ...
 *
 * Before generating that code the dims are coalesced on the host: size-1 dims are dropped and
 * neighbours that every view walks as one (stride[d] == stride[d+1] * size[d+1]) are merged,
 * so a contiguous tensor is rank 1 (no division at all) and a [B, C, H, W] + [1, C, 1, 1] bias
 * add is rank 3, [B, C, H*W].
 */
import { floorDivSource } from './kernel';

export interface Coalesced {
  shape: number[];
  /** strides[v][d]: view v's stride along merged dim d */
  strides: number[][];
}

export function coalesce(shape: number[], strides: number[][]): Coalesced {
  const keep = shape.map((s, d) => d).filter((d) => shape[d] !== 1);
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (const d of keep) {
    const last = outShape.length - 1;
    // merge d into the previous kept dim when, for every view, stepping the previous dim once
    // is the same as stepping d shape[d] times
    if (last >= 0 && strides.every((st, v) => outStrides[v][last] === st[d] * shape[d])) {
      outShape[last] *= shape[d];
      strides.forEach((st, v) => (outStrides[v][last] = st[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((st, v) => outStrides[v].push(st[d]));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** The constants the generated code reads: size0.., and <view>Stride0.. for each view. */
export function stridedConstants(c: Coalesced, views: string[]): Record<string, number> {
  const constants: Record<string, number> = {};
  c.shape.forEach((s, d) => (constants[`size${d}`] = s));
  views.forEach((v, k) => c.strides[k].forEach((st, d) => (constants[`${v}Stride${d}`] = st)));
  return constants;
}

/**
 * Kernel source that sets `<view>At` (the element each view reads) for the output element
 * this.thread.x, from the scalar arguments `<view>Offset`.
 */
export function stridedReadsSource(rank: number, views: string[]): string {
  const lines = [`let rest = this.thread.x;`, ...views.map((v) => `let ${v}At = ${v}Offset;`)];
  for (let d = rank - 1; d >= 0; d--) {
    if (d > 0) {
      // i_d = rest mod size_d, then rest = floor(rest / size_d)
      lines.push(floorDivSource(`q${d}`, 'rest', `this.constants.size${d}`));
      lines.push(`const i${d} = rest - q${d} * this.constants.size${d};`);
      lines.push(`rest = q${d};`);
    } else {
      lines.push(`const i0 = rest;`);
    }
    for (const v of views) lines.push(`${v}At = ${v}At + i${d} * this.constants.${v}Stride${d};`);
  }
  return lines.join('\n  ');
}
