/**
 * Softmax over the rows of x [rows, n], in three kernels:
 *
 *   rowMax[r]    = max_j x[r, j]                         (reduce.ts, 'max')
 *   rowSum[r]    = sum_j exp(x[r, j] - rowMax[r])         softmaxDenominator, one thread per row
 *   out[r, j]    = exp(x[r, j] - rowMax[r]) / rowSum[r]   softmaxNormalize, one thread per element
 *
 * Subtracting the row max keeps every exp in (0, 1], so nothing overflows; the denominator
 * is at least 1.
 */
import type { KernelSpec, KernelThis } from './kernel';

function softmaxDenominator(this: KernelThis<{ n: number }>, x: Float32Array, rowMax: Float32Array): number {
  // BEGIN SOLUTION 5
  const row = this.thread.x;
  const m = rowMax[row];
  let s = 0;
  for (let j = 0; j < this.constants.n; j++) {
    s += Math.exp(x[row * this.constants.n + j] - m);
  }
  return s;
  // END SOLUTION 5
}

function softmaxNormalize(this: KernelThis<{ n: number }>, x: Float32Array, rowMax: Float32Array, rowSum: Float32Array): number {
  // BEGIN SOLUTION 5
  const t = this.thread.x;
  // row = floor(t / n), exactly (see kernel.ts)
  let row = Math.floor((t + 0.5) / this.constants.n);
  if (t - row * this.constants.n < 0) {
    row = row - 1;
  }
  if (t - row * this.constants.n >= this.constants.n) {
    row = row + 1;
  }
  return Math.exp(x[t] - rowMax[row]) / rowSum[row];
  // END SOLUTION 5
}

/** Called with (x, rowMax). */
export function softmaxDenominatorSpec(rows: number, n: number): KernelSpec {
  return { name: 'softmax.denominator', source: softmaxDenominator, output: [rows], constants: { n } };
}

/** Called with (x, rowMax, rowSum). */
export function softmaxNormalizeSpec(rows: number, n: number): KernelSpec {
  return { name: 'softmax.normalize', source: softmaxNormalize, output: [rows * n], constants: { n } };
}
