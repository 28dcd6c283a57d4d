/**
 * Batched matrix product C[b] = op(A[b]) op(B[b]), C [batch, m, n], reduced over k.
 *
 * The transposes and the broadcasts are strides, not copies: element (i, q) of op(A[b]) is
 * a[b * aStrideBatch + i * aStrideM + q * aStrideK] (aStrideBatch = 0 when A is broadcast;
 * transposed A swaps aStrideM and aStrideK), and likewise (q, j) of op(B[b]).
 *
 * Blocking: thread (x, y, z) = (column j, row tile yb, batch b) computes the 4 rows
 * i = 4*yb .. 4*yb + 3 of column j (tiles.ts). Per step q it reads one B element, shared by
 * the 4 rows, and 4 A elements, shared by every column of the row tile; on webasm the A reads
 * do not depend on thread.x, so a SIMD quad of 4 columns loads each once (splat) and gathers
 * only B: 8 loads for 16 multiply-adds where the naive loop does 5 for 4. Measured on a
 * 2-core machine at 512^3: 2.6 GFLOP/s against 1.4 for one output per thread (webasm), 1.6
 * against 0.9 on Mesa llvmpipe GL; bench/kernels.ts has the unet-tiny sizes.
 */
import type { MatmulParams } from '../src/backend/backend';
import type { KernelSpec, KernelThis } from './kernel';

interface MatmulConstants {
  m: number;
  k: number;
  aStrideBatch: number;
  aStrideM: number;
  aStrideK: number;
  bStrideBatch: number;
  bStrideK: number;
  bStrideN: number;
}

function matmulTile4(this: KernelThis<MatmulConstants>, a: Float32Array, b: Float32Array): number[] {
  const j = this.thread.x;
  const i0 = this.thread.y * 4;
  // a row count that 4 does not divide: the last tile repeats row m - 1 (untile4 drops it)
  const i1 = Math.min(i0 + 1, this.constants.m - 1);
  const i2 = Math.min(i0 + 2, this.constants.m - 1);
  const i3 = Math.min(i0 + 3, this.constants.m - 1);
  const aBatch = this.thread.z * this.constants.aStrideBatch;
  const a0 = aBatch + i0 * this.constants.aStrideM;
  const a1 = aBatch + i1 * this.constants.aStrideM;
  const a2 = aBatch + i2 * this.constants.aStrideM;
  const a3 = aBatch + i3 * this.constants.aStrideM;
  const bColumn = this.thread.z * this.constants.bStrideBatch + j * this.constants.bStrideN;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let q = 0; q < this.constants.k; q++) {
    const bq = b[bColumn + q * this.constants.bStrideK];
    const aq = q * this.constants.aStrideK;
    s0 += a[a0 + aq] * bq;
    s1 += a[a1 + aq] * bq;
    s2 += a[a2 + aq] * bq;
    s3 += a[a3 + aq] * bq;
  }
  return [s0, s1, s2, s3];
}

/**
 * B not transposed (bStrideN = 1): the same 4-row tile, written for vector code. The B read is
 * literally `b[this.thread.x + uniform]`, so on webasm with the code-generator patch
 * (src/backend/gpujs/webasm-codegen-patch.ts) the 4 columns of a SIMD quad are one v128.load;
 * the A reads are splat loads. k is unrolled by 2 into the 4 sums; an odd k ends with one more
 * step. Rows past m repeat row m - 1 (a select on integers, not Math.min, so the row offsets
 * stay integers). One sum per row, not two (the even and the odd q in separate chains, which
 * would hide the multiply-add latency): V8 loads a step's 2 B vectors and 8 A splats before its
 * multiply-adds, and with 8 sums that is 18 values for 16 vector registers, so it kept one sum on
 * the stack, a store and a load in that sum's chain every step (node --print-wasm-code). With 4
 * sums nothing spills: 1.10-1.21x at 512^3, 1.18-1.40x at [64,128] x [128,784], 1.10-1.21x at
 * 128^3 (three runs of `npx ts-node --transpile-only bench/kernel-ab.ts --rev bdd8ffc --only matmul
 * --calls 21`, one thread).
 * Measured (webasm, one core, 512^3): see bench/kernels.ts.
 */
function matmulTile4Contiguous(this: KernelThis<MatmulConstants & { mLast: number; kEven: number; kOdd: number }>, a: Float32Array, b: Float32Array): number[] {
  const i0 = this.thread.y * 4;
  const i1 = i0 + 1 < this.constants.m ? i0 + 1 : this.constants.mLast;
  const i2 = i0 + 2 < this.constants.m ? i0 + 2 : this.constants.mLast;
  const i3 = i0 + 3 < this.constants.m ? i0 + 3 : this.constants.mLast;
  const aBatch = this.thread.z * this.constants.aStrideBatch;
  const a0 = aBatch + i0 * this.constants.aStrideM;
  const a1 = aBatch + i1 * this.constants.aStrideM;
  const a2 = aBatch + i2 * this.constants.aStrideM;
  const a3 = aBatch + i3 * this.constants.aStrideM;
  const bBatch = this.thread.z * this.constants.bStrideBatch;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let q = 0; q < this.constants.kEven; q += 2) {
    const bq = bBatch + q * this.constants.bStrideK;
    const b0 = b[this.thread.x + bq];
    const b1 = b[this.thread.x + bq + this.constants.bStrideK];
    const aq = q * this.constants.aStrideK;
    const ar = aq + this.constants.aStrideK;
    s0 += a[a0 + aq] * b0;
    s0 += a[a0 + ar] * b1;
    s1 += a[a1 + aq] * b0;
    s1 += a[a1 + ar] * b1;
    s2 += a[a2 + aq] * b0;
    s2 += a[a2 + ar] * b1;
    s3 += a[a3 + aq] * b0;
    s3 += a[a3 + ar] * b1;
  }
  for (let q = 0; q < this.constants.kOdd; q++) {
    const b0 = b[this.thread.x + bBatch + this.constants.kEven * this.constants.bStrideK];
    const aq = this.constants.kEven * this.constants.aStrideK;
    s0 += a[a0 + aq] * b0;
    s1 += a[a1 + aq] * b0;
    s2 += a[a2 + aq] * b0;
    s3 += a[a3 + aq] * b0;
  }
  return [s0, s1, s2, s3];
}

/**
 * B not transposed and m a multiple of 4: matmulTile4Contiguous without the row clamp, so the 4
 * rows' reads are one index plus compile-time row offsets (`a[aq + this.constants.aRow1]`).
 * With the code-generator patch the constant goes into the load instruction's offset (H), and
 * the 4 A reads of a step share one address computation instead of computing 4. One step of k
 * per iteration, and the spec asks for two quads per call (pairQuads, the patch's M): the second
 * quad of columns shares the 4 A splats, so an iteration is 2 B vector loads, 4 splats and 8
 * sums (14 of the 16 SIMD registers) in 8 independent multiply-add chains. k unrolled by 2
 * and paired was 4 B loads, 8 splats and 8 sums and spilled (0.92-0.99x one quad); this form
 * against the one-quad, k-by-2 loop of commit 3701941 (`npx ts-node --transpile-only
 * bench/kernel-ab.ts --rev 3701941 --only matmul --calls 15`, one thread, 2026-12-04): 1.27x at
 * 512^3 (28.4 GFLOP/s against 22.3), 1.11x at [64,128] x [128,784], 1.15x at 128^3.
 */
function matmulTile4Aligned(this: KernelThis<MatmulConstants & { aRow1: number; aRow2: number; aRow3: number }>, a: Float32Array, b: Float32Array): number[] {
  const aTile = this.thread.z * this.constants.aStrideBatch + this.thread.y * 4 * this.constants.aStrideM;
  const bBatch = this.thread.z * this.constants.bStrideBatch;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let q = 0; q < this.constants.k; q++) {
    const b0 = b[this.thread.x + bBatch + q * this.constants.bStrideK];
    const aq = aTile + q * this.constants.aStrideK;
    s0 += a[aq] * b0;
    s1 += a[aq + this.constants.aRow1] * b0;
    s2 += a[aq + this.constants.aRow2] * b0;
    s3 += a[aq + this.constants.aRow3] * b0;
  }
  return [s0, s1, s2, s3];
}

/** Called with (a, b). */
export function matmulSpec(p: MatmulParams): KernelSpec {
  const { batch, m, k, n } = p;
  if (!p.transB) {
    const aStrideM = p.transA ? 1 : k;
    return {
      name: 'matmul',
      source: m % 4 === 0 ? matmulTile4Aligned : matmulTile4Contiguous,
      output: [n, Math.ceil(m / 4), batch],
      constants: {
        m,
        k,
        mLast: m - 1,
        kEven: k - (k % 2),
        kOdd: k % 2,
        aStrideBatch: p.broadcastA ? 0 : m * k,
        aStrideM,
        aStrideK: p.transA ? m : 1,
        aRow1: aStrideM,
        aRow2: 2 * aStrideM,
        aRow3: 3 * aStrideM,
        bStrideBatch: p.broadcastB ? 0 : k * n,
        bStrideK: n,
        bStrideN: 1,
      },
      tile4: { rows: m },
      // the aligned form paired (M): 1.11-1.27x (matmulTile4Aligned)
      ...(m % 4 === 0 ? { pairQuads: true } : {}),
    };
  }
  return {
    name: 'matmul',
    source: matmulTile4,
    output: [n, Math.ceil(m / 4), batch],
    constants: {
      m,
      k,
      aStrideBatch: p.broadcastA ? 0 : m * k,
      aStrideM: p.transA ? 1 : k,
      aStrideK: p.transA ? m : 1,
      bStrideBatch: p.broadcastB ? 0 : k * n,
      bStrideK: p.transB ? 1 : n,
      bStrideN: p.transB ? k : 1,
    },
    tile4: { rows: m },
  };
}
