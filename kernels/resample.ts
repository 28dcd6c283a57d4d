/**
 * Nearest-neighbour upsampling and sum pooling, over planes [n*c, h, w]; one thread per output
 * element, t = (plane * outH + i) * outW + j.
 *
 *   upsample: out[plane, i, j] = x[plane, floor(i / sH), floor(j / sW)] if that row and column
 *             exist, else 0 (UpsampleParams: a larger outH makes it the backward of sumPool2d
 *             over an input the pool did not divide)
 *   sumPool:  out[plane, i, j] = sum_{a < kh, b < kw} x[plane, i*kh + a, j*kw + b]
 */
import type { PoolParams, UpsampleParams } from '../src/backend/backend';
import type { KernelSpec, KernelThis } from './kernel';

interface ResampleConstants {
  h: number;
  w: number;
  outH: number;
  outW: number;
  /** upsample: scale factors; sumPool: window size */
  fh: number;
  fw: number;
}

function upsampleNearest(this: KernelThis<ResampleConstants>, x: Float32Array): number {
  const t = this.thread.x;
  // t -> (plane, i, j), each division corrected (kernel.ts)
  let rowIndex = Math.floor((t + 0.5) / this.constants.outW);
  if (t - rowIndex * this.constants.outW < 0) {
    rowIndex = rowIndex - 1;
  }
  if (t - rowIndex * this.constants.outW >= this.constants.outW) {
    rowIndex = rowIndex + 1;
  }
  const j = t - rowIndex * this.constants.outW;
  let plane = Math.floor((rowIndex + 0.5) / this.constants.outH);
  if (rowIndex - plane * this.constants.outH < 0) {
    plane = plane - 1;
  }
  if (rowIndex - plane * this.constants.outH >= this.constants.outH) {
    plane = plane + 1;
  }
  const i = rowIndex - plane * this.constants.outH;
  const sy = Math.floor((i + 0.5) / this.constants.fh);
  const sx = Math.floor((j + 0.5) / this.constants.fw);
  if (sy >= this.constants.h || sx >= this.constants.w) {
    return 0;
  }
  return x[(plane * this.constants.h + sy) * this.constants.w + sx];
}

function sumPool(this: KernelThis<ResampleConstants>, x: Float32Array): number {
  const t = this.thread.x;
  let rowIndex = Math.floor((t + 0.5) / this.constants.outW);
  if (t - rowIndex * this.constants.outW < 0) {
    rowIndex = rowIndex - 1;
  }
  if (t - rowIndex * this.constants.outW >= this.constants.outW) {
    rowIndex = rowIndex + 1;
  }
  const j = t - rowIndex * this.constants.outW;
  let plane = Math.floor((rowIndex + 0.5) / this.constants.outH);
  if (rowIndex - plane * this.constants.outH < 0) {
    plane = plane - 1;
  }
  if (rowIndex - plane * this.constants.outH >= this.constants.outH) {
    plane = plane + 1;
  }
  const i = rowIndex - plane * this.constants.outH;
  const corner = (plane * this.constants.h + i * this.constants.fh) * this.constants.w + j * this.constants.fw;
  let s = 0;
  for (let a = 0; a < this.constants.fh; a++) {
    for (let b = 0; b < this.constants.fw; b++) {
      s += x[corner + a * this.constants.w + b];
    }
  }
  return s;
}

/** Called with (x). */
export function upsampleNearestSpec(p: UpsampleParams): KernelSpec {
  return {
    name: 'upsampleNearest',
    source: upsampleNearest,
    output: [p.n * p.c * p.outH * p.outW],
    constants: { h: p.h, w: p.w, outH: p.outH, outW: p.outW, fh: p.scaleH, fw: p.scaleW },
  };
}

/** Called with (x). */
export function sumPoolSpec(p: PoolParams): KernelSpec {
  const outH = Math.floor(p.h / p.kh);
  const outW = Math.floor(p.w / p.kw);
  return { name: 'sumPool', source: sumPool, output: [p.n * p.c * outH * outW], constants: { h: p.h, w: p.w, outH, outW, fh: p.kh, fw: p.kw } };
}
