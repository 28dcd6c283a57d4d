/**
 * Row reductions: x is [rows, n] row-major, out[row] = reduce_j x[row, j].
 *
 * One thread per row walks its row. A long row (n > REDUCE_BLOCK) is reduced in two passes:
 * pass 1 reduces blocks of REDUCE_BLOCK elements, [rows, n] -> [rows, blocks], and pass 2
 * reduces the partials. That gives a GPU rows * blocks threads instead of `rows`, and sums
 * in two levels, so a float32 sum of n terms carries about (B + n/B) roundings instead of n.
 *
 * max/min/argmax/argmin follow the reference: the first extreme wins ties, and the first NaN
 * wins outright (x != x is the NaN test). For arg*, pass 1 returns the winning index within
 * the row, and pass 2 compares x at those indices, block by block in order, so ties and NaNs
 * still resolve to the first one in the row.
 */
import type { ReduceOp } from '../src/backend/backend';
import type { KernelSpec } from './kernel';
import { floorDivSource } from './kernel';

export const REDUCE_BLOCK = 1024;

/** The comparison that makes v the new best, for max-like and min-like reductions. */
const BETTER: Record<Exclude<ReduceOp, 'sum'>, string> = { max: 'v > best', argmax: 'v > best', min: 'v < best', argmin: 'v < best' };

/**
 * One pass: thread t reduces elements [start, start + count) of row floor(t / blocks), with
 * start = block * blockLength. Called with (x). With blocks = 1 and blockLength = n it is the
 * whole reduction.
 */
export function reduceRowsSpec(op: ReduceOp, rows: number, n: number, blockLength: number): KernelSpec {
  const blocks = Math.ceil(n / blockLength);
  const head = `${floorDivSource('row', 'this.thread.x', 'this.constants.blocks')}
  const block = this.thread.x - row * this.constants.blocks;
  const start = row * this.constants.n + block * this.constants.blockLength;
  const count = Math.min(this.constants.blockLength, this.constants.n - block * this.constants.blockLength);`;
  let body: string;
  if (op === 'sum') {
    body = `let s = 0;
  for (let j = 0; j < this.constants.blockLength; j++) {
    if (j < count) {
      s += x[start + j];
    }
  }
  return s;`;
  } else {
    const isArg = op === 'argmax' || op === 'argmin';
    body = `let best = x[start];
  let bestAt = block * this.constants.blockLength;
  let done = best != best ? 1 : 0;
  for (let j = 1; j < this.constants.blockLength; j++) {
    if (j < count && done == 0) {
      const v = x[start + j];
      if (v != v) {
        best = v;
        bestAt = block * this.constants.blockLength + j;
        done = 1;
      } else if (${BETTER[op]}) {
        best = v;
        bestAt = block * this.constants.blockLength + j;
      }
    }
  }
  return ${isArg ? 'bestAt' : 'best'};`;
  }
  const source = `function reduceRows(x) {
  ${head}
  ${body}
}`;
  return { name: `reduce.${op}`, source, output: [rows * blocks], constants: { n, blocks, blockLength } };
}

/**
 * Pass 2 of argmax/argmin: at is [rows, blocks] indices (within the row) from pass 1; pick the
 * best x[row, at[row, b]] over b in order. Called with (x, at).
 */
export function argReduceIndicesSpec(op: 'argmax' | 'argmin', rows: number, n: number, blocks: number): KernelSpec {
  const source = `function argReduceIndices(x, at) {
  const row = this.thread.x;
  let bestAt = at[row * this.constants.blocks];
  let best = x[row * this.constants.n + bestAt];
  let done = best != best ? 1 : 0;
  for (let b = 1; b < this.constants.blocks; b++) {
    if (done == 0) {
      const j = at[row * this.constants.blocks + b];
      const v = x[row * this.constants.n + j];
      if (v != v) {
        best = v;
        bestAt = j;
        done = 1;
      } else if (${BETTER[op]}) {
        best = v;
        bestAt = j;
      }
    }
  }
  return bestAt;
}`;
  return { name: `reduce.${op}.indices`, source, output: [rows], constants: { n, blocks } };
}
