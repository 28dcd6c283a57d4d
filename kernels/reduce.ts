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

/**
 * Row sums for rows of n >= 2 * SUM_LANES, in two passes written for vector code.
 * Pass 1, thread (j, row), j < SUM_LANES: s = sum_q x[row * n + q * SUM_LANES + j] over the
 * q < floor(n / SUM_LANES) full strides; the read is `x[this.thread.x + uniform]`, so on webasm
 * with the code-generator patch 4 lanes are one v128.load (the one-thread-per-row form above
 * gathers every element), plus, in lane j < n % SUM_LANES, the element j past the last full
 * stride. Pass 2, thread row: the SUM_LANES partials (it takes only them: gpu.js copies every
 * argument into the kernel's memory, so passing x again cost as much as pass 1). A float32 sum of n terms then rounds about
 * n / SUM_LANES + SUM_LANES times per term instead of up to 1024.
 */
export const SUM_LANES = 64;

/** Called with (x); gives [rows, SUM_LANES] partial sums (a grid only its pass 2 reads). */
export function sumLanesSpec(rows: number, n: number): KernelSpec {
  const tail = n % SUM_LANES;
  // the n % SUM_LANES elements past the last full stride: lane j < tail adds one more
  // (lanes past the tail re-read its last element and drop it; a divergent select, so that one
  // read stays a gather)
  const tailSource =
    tail > 0
      ? `const tj = Math.min(this.thread.x, this.constants.tail - 1);
  const last = x[row + this.constants.tailStart + tj];
  s += this.thread.x < this.constants.tail ? last : 0;`
      : '';
  const source = `function sumLanes(x) {
  const row = this.thread.y * this.constants.n;
  let s = 0;
  for (let q = 0; q < this.constants.strides; q++) {
    s += x[this.thread.x + row + q * this.constants.lanes];
  }
  ${tailSource}
  return s;
}`;
  return { name: 'reduce.sum.lanes', source, output: [SUM_LANES, rows], constants: { n, lanes: SUM_LANES, strides: Math.floor(n / SUM_LANES), tail, tailStart: n - tail } };
}

/** Called with (partials); gives [rows]. */
export function sumLanesFinishSpec(rows: number): KernelSpec {
  const source = `function sumLanesFinish(partials) {
  let s = 0;
  for (let j = 0; j < this.constants.lanes; j++) {
    s += partials[this.thread.x * this.constants.lanes + j];
  }
  return s;
}`;
  return { name: 'reduce.sum.finish', source, output: [rows], constants: { lanes: SUM_LANES } };
}

/**
 * out[ch] = sum_b s[b, ch] for s [n, c]: the per-image channel sums of a [n, c, positions]
 * tensor (reduced over positions first) summed over the images. GroupNorm's dL/dbias and
 * dL/dweight, a conv's dL/dbias. Called with (s).
 */
export function channelSumSpec(n: number, c: number): KernelSpec {
  const source = `function channelSum(s) {
  let total = 0;
  for (let b = 0; b < this.constants.n; b++) {
    total += s[b * this.constants.c + this.thread.x];
  }
  return total;
}`;
  return { name: 'reduce.channelSum', source, output: [c], constants: { n, c } };
}
