/** Reference reductions over the rows of an [outer, n] matrix, and a stable softmax. */
import type { ReduceOp } from '../backend';

export function reduce(op: ReduceOp, x: Float32Array, outer: number, n: number): Float32Array {
  const out = new Float32Array(outer);
  for (let o = 0; o < outer; o++) {
    const row = o * n;
    if (op === 'sum') {
      // accumulate in float64 so the reference is as exact as the test's loops
      let s = 0;
      for (let j = 0; j < n; j++) s += x[row + j];
      out[o] = s;
    } else {
      // max/min/argmax/argmin: the first extreme wins ties; NaN propagates like in numpy
      const wantMax = op === 'max' || op === 'argmax';
      let best = x[row];
      let bestAt = 0;
      for (let j = 1; j < n && !Number.isNaN(best); j++) {
        const v = x[row + j];
        if (Number.isNaN(v) || (wantMax ? v > best : v < best)) {
          best = v;
          bestAt = j;
        }
      }
      out[o] = op === 'argmax' || op === 'argmin' ? bestAt : best;
    }
  }
  return out;
}

/** softmax(x)_j = exp(x_j - max x) / sum_k exp(x_k - max x): subtracting the max avoids overflow. */
export function softmax(x: Float32Array, outer: number, n: number): Float32Array {
  const out = new Float32Array(outer * n);
  for (let o = 0; o < outer; o++) {
    const row = o * n;
    let m = -Infinity;
    for (let j = 0; j < n; j++) m = Math.max(m, x[row + j]);
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.exp(x[row + j] - m);
    for (let j = 0; j < n; j++) out[row + j] = Math.exp(x[row + j] - m) / s;
  }
  return out;
}
