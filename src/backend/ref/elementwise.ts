/**
 * Reference elementwise kernels: one scalar function per op, applied by plain loops.
 * These functions are the definition of each op; the gpu.js kernels are tested against them.
 */
import type { BinaryOp, StridedView, UnaryOp } from '../backend';

/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below float32 resolution near 1). */
export function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

export const UNARY_FNS: Record<UnaryOp, (x: number, a: number, b: number) => number> = {
  neg: (x) => -x,
  exp: (x) => Math.exp(x),
  log: (x) => Math.log(x),
  sqrt: (x) => Math.sqrt(x),
  rsqrt: (x) => 1 / Math.sqrt(x),
  abs: (x) => Math.abs(x),
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  relu: (x) => (x > 0 ? x : 0),
  step: (x) => (x > 0 ? 1 : 0),
  sigmoid,
  tanh: (x) => Math.tanh(x),
  silu: (x) => x * sigmoid(x),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  erf,
  sin: (x) => Math.sin(x),
  cos: (x) => Math.cos(x),
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  addScalar: (x, a) => x + a,
  mulScalar: (x, a) => x * a,
  powScalar: (x, a) => Math.pow(x, a),
  clamp: (x, a, b) => Math.min(Math.max(x, a), b),
};

export const BINARY_FNS: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => Math.pow(a, b),
  maximum: (a, b) => (a >= b || Number.isNaN(a) ? a : b),
  minimum: (a, b) => (a <= b || Number.isNaN(a) ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
  siluGrad: (g, x) => g * sigmoid(x) * (1 + x * (1 - sigmoid(x))),
};

export function unary(op: UnaryOp, x: Float32Array, size: number, a = 0, b = 0): Float32Array {
  const f = UNARY_FNS[op];
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = f(x[i], a, b);
  return out;
}

/**
 * Walk every index of `shape` in row-major order, calling visit(outIndex, offsets) where
 * offsets[v] is the element offset of view v at that index. An odometer over the dims:
 * when dim d rolls over, each view steps back by (shape[d]-1)*stride and forward in d-1.
 */
export function forEachStrided(shape: number[], views: StridedView[], visit: (i: number, offsets: number[]) => void): void {
  const size = shape.reduce((p, s) => p * s, 1);
  if (size === 0) return;
  const nd = shape.length;
  const offsets = views.map((v) => v.offset);
  const idx = new Array(nd).fill(0);
  for (let i = 0; i < size; i++) {
    visit(i, offsets);
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      if (idx[d] < shape[d]) {
        for (let v = 0; v < views.length; v++) offsets[v] += views[v].strides[d];
        break;
      }
      idx[d] = 0;
      for (let v = 0; v < views.length; v++) offsets[v] -= views[v].strides[d] * (shape[d] - 1);
    }
  }
}

export function binary(op: BinaryOp, a: StridedView, b: StridedView, shape: number[]): Float32Array {
  const f = BINARY_FNS[op];
  const A = a.buf as Float32Array;
  const B = b.buf as Float32Array;
  const out = new Float32Array(shape.reduce((p, s) => p * s, 1));
  forEachStrided(shape, [a, b], (i, o) => {
    out[i] = f(A[o[0]], B[o[1]]);
  });
  return out;
}

export function where(cond: StridedView, a: StridedView, b: StridedView, shape: number[]): Float32Array {
  const C = cond.buf as Float32Array;
  const A = a.buf as Float32Array;
  const B = b.buf as Float32Array;
  const out = new Float32Array(shape.reduce((p, s) => p * s, 1));
  forEachStrided(shape, [cond, a, b], (i, o) => {
    out[i] = C[o[0]] !== 0 ? A[o[1]] : B[o[2]];
  });
  return out;
}

export function copyStrided(src: StridedView, shape: number[]): Float32Array {
  const S = src.buf as Float32Array;
  const out = new Float32Array(shape.reduce((p, s) => p * s, 1));
  forEachStrided(shape, [src], (i, o) => {
    out[i] = S[o[0]];
  });
  return out;
}
