/**
 * Issue 3: the gpu.js backend, kernel by kernel, against the reference backend, on every
 * gpu.js mode that can start here (gpu only with a GL context: run under xvfb-run).
 *
 * Sums are checked against the float32 error bound of a k-term sum (Higham, "Accuracy and
 * Stability of Numerical Algorithms", 2nd ed., eq. 3.5): |computed - exact| <= gamma_k * sum|terms|
 * with gamma_k = k u / (1 - k u), u = 2^-24; the reference accumulates in float64, so it is
 * "exact" at this scale. Shapes are chosen off the 4-row tiles and SIMD quads, and past the
 * 1000 iterations at which gpu.js caps a loop with a non-constant bound.
 *
 * Then the gpu.js traps (kernels/README.md, src/backend/gpujs/runner.ts): long loops, output reuse, feeding a kernel its own
 * output, argument sizes that change; the kernel cache; memory staying bounded over thousands
 * of calls; and createBackend's choices and errors.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import * as v8 from 'v8';
import * as vm from 'vm';
import { BINARY_OPS, REDUCE_OPS, UNARY_OPS, type Backend, type Buf, type Conv2dParams, type MatmulParams, convOutputSize } from '../src/backend/backend';
import { RefBackend } from '../src/backend/ref';
import { availability, createBackend, GpuJsBackend, glAvailability, type GpuJsMode } from '../src/backend/gpujs';
import { withBackend } from '../src/backend/registry';
import { Generator } from '../src/random';
import { tensor } from '../src/creation';

const U = 2 ** -24;
const gamma = (k: number) => (k * U) / (1 - k * U);

/** a ≈ b elementwise: |a - b| <= atol[i] + rtol |b|, NaN matching NaN and infinities exactly. */
function expectAllClose(a: Float32Array, b: Float32Array, rtol: number, atol: number | Float32Array | number[], what: string): void {
  expect(a.length, `${what}: length`).to.equal(b.length);
  for (let i = 0; i < b.length; i++) {
    const tol = (typeof atol === 'number' ? atol : atol[i]) + rtol * Math.abs(b[i]);
    const ok = Number.isNaN(b[i]) ? Number.isNaN(a[i]) : !Number.isFinite(b[i]) ? a[i] === b[i] : Math.abs(a[i] - b[i]) <= tol;
    if (!ok) expect.fail(`${what}: at ${i} got ${a[i]}, expected ${b[i]} (tolerance ${tol.toExponential(2)})`);
  }
}

const MODES: GpuJsMode[] = ['webasm', 'cpu', 'gpu'];

for (const mode of MODES) {
  describe(`[unit 3: kernels] gpu.js: kernels vs the reference [gpujs-${mode}]`, function () {
    let g: GpuJsBackend;
    const ref = new RefBackend();
    const gen = new Generator(3);
    const random = (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * gen.uniform());
    /** the same data on both backends */
    const both = (data: Float32Array): [Buf, Buf] => [g.fromArray(data), ref.fromArray(data)];
    const abs = (d: Float32Array) => d.map(Math.abs);

    before(function () {
      const ok = availability(mode);
      if (!ok.ok) {
        console.log(`      (skipping gpujs-${mode}: ${ok.reason})`);
        this.skip();
      }
      g = new GpuJsBackend({ mode });
    });
    after(() => g?.destroy());
    // transcendentals: webasm/cpu take them from JavaScript's Math; a GPU's are a few ULP off
    const fnTol = () => (mode === 'gpu' ? { rtol: 2e-5, atol: 2e-6 } : { rtol: 2e-6, atol: 4e-7 });

    it('storage: fromArray / toArray / full round-trip exactly, including NaN and infinities', () => {
      const data = Float32Array.from([1.5, -0, NaN, Infinity, -Infinity, 3.4e38, 1e-45, 16777217]);
      expect(Array.from(g.toArray(g.fromArray(data), 8))).to.deep.equal(Array.from(data));
      expect(Array.from(g.toArray(g.full(5, -2.25), 5))).to.deep.equal([-2.25, -2.25, -2.25, -2.25, -2.25]);
      expect(g.toArray(g.full(0, 1), 0).length).to.equal(0);
    });

    it('unary: every op matches its reference definition, with a and b as arguments', () => {
      const x = Float32Array.from([...random(397, -3, 3), 0, -0, 1, -1, 30, -30, 100, -100, 1e-4, -1e-4, NaN]);
      const [gx, rx] = both(x);
      const positive = Float32Array.from(x, (v) => Math.abs(v) + 0.01);
      const [gp, rp] = both(positive);
      for (const op of UNARY_OPS) {
        // log, sqrt, rsqrt of negatives are NaN on some GPUs and garbage on others; the
        // reference defines them on the positive inputs
        const onPositive = op === 'log' || op === 'sqrt' || op === 'rsqrt';
        const [gi, ri] = onPositive ? [gp, rp] : [gx, rx];
        for (const [a, b] of [[0.5, 2], [3, 0], [-2, 4]]) {
          if (op === 'sin' || op === 'cos') {
            // |x| <= 100 here; GPU sin/cos lose absolute accuracy with the argument
            const t = fnTol();
            expectAllClose(g.toArray(g.unary(op, gi, x.length, a, b), x.length), ref.toArray(ref.unary(op, ri, x.length, a, b), x.length), t.rtol, mode === 'gpu' ? 1e-4 : t.atol, `${op}(a=${a}, b=${b})`);
            continue;
          }
          const t = fnTol();
          expectAllClose(g.toArray(g.unary(op, gi, x.length, a, b), x.length), ref.toArray(ref.unary(op, ri, x.length, a, b), x.length), t.rtol, t.atol, `${op}(a=${a}, b=${b})`);
        }
      }
    });

    it('binary and where: strided reads (broadcast, transposed, offset) in ranks 0 to 5', () => {
      // a [2, 3, 5, 7] view, and b broadcast over dims 0 and 2 and read transposed
      const x = random(2 * 3 * 5 * 7 + 11);
      const y = random(7 * 3 + 4, 0.5, 2);
      const [gx, rx] = both(x);
      const [gy, ry] = both(y);
      const shape = [2, 3, 5, 7];
      const av = (buf: Buf) => ({ buf, strides: [105, 35, 7, 1], offset: 11 });
      const bv = (buf: Buf) => ({ buf, strides: [0, 1, 0, 3], offset: 4 });
      for (const op of BINARY_OPS) {
        const t = fnTol();
        expectAllClose(g.toArray(g.binary(op, av(gx), bv(gy), shape), 210), ref.toArray(ref.binary(op, av(rx), bv(ry), shape), 210), t.rtol, t.atol, op);
      }
      const cond = Float32Array.from(random(7 * 3 + 4), (v) => (v > 0 ? 1 : 0));
      const [gc, rc] = both(cond);
      expectAllClose(g.toArray(g.where(bv(gc), av(gx), bv(gy), shape), 210), ref.toArray(ref.where(bv(rc), av(rx), bv(ry), shape), 210), 0, 0, 'where');
      // rank 0 (a scalar), and rank 5 with nothing to coalesce (a 5-d permutation)
      const [g1, r1] = both(Float32Array.from([2.5]));
      const s0 = { strides: [], offset: 0 };
      expectAllClose(g.toArray(g.binary('mul', { buf: g1, ...s0 }, { buf: g1, ...s0 }, []), 1), Float32Array.from([6.25]), 0, 0, 'rank 0');
      const big = random(2 * 3 * 4 * 5 * 6);
      const [gb, rb] = both(big);
      const perm = { strides: [1, 2, 6, 24, 120], offset: 0 }; // [6, 5, 4, 3, 2] read reversed
      const shape5 = [2, 3, 4, 5, 6];
      expectAllClose(
        g.toArray(g.binary('sub', { buf: gb, ...perm }, { buf: gb, strides: [360, 120, 30, 6, 1], offset: 0 }, shape5), 720),
        ref.toArray(ref.binary('sub', { buf: rb, ...perm }, { buf: rb, strides: [360, 120, 30, 6, 1], offset: 0 }, shape5), 720),
        0,
        0,
        'rank 5',
      );
    });

    it('copyStrided: N-d index math from strides, exact on a 4.2M-element transpose', () => {
      const x = random(3 * 4 * 5 * 6 + 7);
      const [gx, rx] = both(x);
      for (const view of [
        { strides: [1, 3, 12, 60], offset: 0, shape: [3, 4, 5, 6] },
        { strides: [120, 0, 1, 6], offset: 7, shape: [3, 2, 6, 5] },
        { strides: [2, 60, 1], offset: 3, shape: [4, 5, 2] },
        // rows of at least COPY_ROW_GRID_MIN (kernels/copy.ts) run on a row grid: ranks 2 to 5,
        // the innermost stride 1 (vector loads) or not, a row of 13 (quads and a scalar tail),
        // and negative strides (a view read backwards, offset at its far end)
        { strides: [13, 1], offset: 5, shape: [8, 13] },
        { strides: [1, 9], offset: 0, shape: [9, 12] },
        { strides: [60, 2, 1], offset: 4, shape: [2, 3, 16] },
        { strides: [120, 1, 6], offset: 0, shape: [3, 6, 20] },
        { strides: [120, 60, 12, 1], offset: 2, shape: [3, 2, 5, 9] },
        { strides: [1, 60, 6, 120, 2], offset: 0, shape: [2, 2, 3, 2, 8] },
        { strides: [-120, 12, -1], offset: 250, shape: [3, 10, 8] },
        { strides: [-6, 120, -30, 1], offset: 30 + 5 * 6 + 1, shape: [5, 2, 2, 9] },
      ]) {
        const size = view.shape.reduce((p, s) => p * s, 1);
        expectAllClose(g.toArray(g.copyStrided({ buf: gx, ...view }, view.shape), size), ref.toArray(ref.copyStrided({ buf: rx, ...view }, view.shape), size), 0, 0, `copy [${view.shape}]`);
      }
      // past 2^22 elements floor(i / n) in float32 needs the correction step of kernels/kernel.ts
      const [rows, cols] = [7, 600_001];
      const big = Float32Array.from({ length: rows * cols }, (_, i) => i);
      const gb = g.fromArray(big);
      const t = g.toArray(g.copyStrided({ buf: gb, strides: [1, cols], offset: 0 }, [cols, rows]), rows * cols);
      for (let i = 0; i < t.length; i += 997) expect(t[i], `transpose[${i}]`).to.equal((i % rows) * cols + Math.floor(i / rows));
      expect(t[t.length - 1]).to.equal(rows * cols - 1);
      g.free?.(gb);
    });

    it('concat: parts of different widths, empty parts, and more parts than one kernel binds', () => {
      const widths = [3, 0, 5, 1, 2, 4, 1, 1, 2, 3, 6, 2];
      const outer = 9;
      const data = widths.map((w) => random(outer * w));
      const gp = data.map((d) => g.fromArray(d));
      const rp = data.map((d) => ref.fromArray(d));
      const total = widths.reduce((a, b) => a + b, 0);
      expectAllClose(g.toArray(g.concat(gp, widths, outer), outer * total), ref.toArray(ref.concat(rp, widths, outer), outer * total), 0, 0, 'concat');
    });

    it('reductions: sum/max/min/argmax/argmin over rows, short, 1024 (one loop over 1000) and long (two passes)', () => {
      for (const [outer, n] of [[13, 7], [3, 1024], [5, 3001], [1, 70_000]]) {
        const x = random(outer * n);
        // ties and a NaN: the first wins, like the reference
        x[2] = x[1];
        if (n > 2000) x[n + 1500] = NaN;
        const [gx, rx] = both(x);
        for (const op of REDUCE_OPS) {
          const got = g.toArray(g.reduce(op, gx, outer, n), outer);
          const want = ref.toArray(ref.reduce(op, rx, outer, n), outer);
          const bound = op === 'sum' ? ref.toArray(ref.reduce('sum', ref.fromArray(abs(x)), outer, n), outer).map((s) => 2 * gamma(n) * s) : 0;
          expectAllClose(got, want, 0, bound, `${op} [${outer}, ${n}]`);
        }
      }
      expectAllClose(g.toArray(g.reduce('max', g.fromArray(new Float32Array(0)), 3, 0), 3), Float32Array.from([NaN, NaN, NaN]), 0, 0, 'empty max');
    });

    it('softmax: rows of 49 (attention) and 2500 (a loop over 1000), large logits do not overflow', () => {
      for (const [outer, n] of [[49, 49], [3, 2500]]) {
        const x = random(outer * n, -20, 20);
        x[0] = 1000; // exp(1000) overflows; exp(x - max) does not
        const [gx, rx] = both(x);
        const t = fnTol();
        expectAllClose(g.toArray(g.softmax(gx, outer, n), outer * n), ref.toArray(ref.softmax(rx, outer, n), outer * n), 4 * t.rtol + gamma(n), 1e-9, `softmax [${outer}, ${n}]`);
      }
    });

    it('matmul: transposes and broadcasts as strides, m off the 4-row tiles, k past 1000', () => {
      const cases: Partial<MatmulParams>[] = [
        { batch: 1, m: 5, k: 3, n: 7 },
        { batch: 3, m: 49, k: 64, n: 49, transB: true }, // attention q k^T
        { batch: 2, m: 6, k: 1003, n: 5, transA: true, broadcastB: true },
        { batch: 4, m: 9, k: 17, n: 1, broadcastA: true, transA: true, transB: true },
      ];
      for (const c of cases) {
        const p: MatmulParams = { batch: 1, m: 1, k: 1, n: 1, transA: false, transB: false, broadcastA: false, broadcastB: false, ...c };
        const a = random((p.broadcastA ? 1 : p.batch) * p.m * p.k);
        const b = random((p.broadcastB ? 1 : p.batch) * p.k * p.n);
        const [ga, ra] = both(a);
        const [gb, rb] = both(b);
        const size = p.batch * p.m * p.n;
        const bound = ref.toArray(ref.matmul(ref.fromArray(abs(a)), ref.fromArray(abs(b)), p), size).map((s) => gamma(p.k + 2) * s);
        expectAllClose(g.toArray(g.matmul(ga, gb, p), size), ref.toArray(ref.matmul(ra, rb, p), size), 0, bound, `matmul ${JSON.stringify(c)}`);
      }
    });

    it('conv2d forward, backward-input, backward-weight: strides, padding, channels off the tiles, batch slices', () => {
      const cases = [
        { n: 2, cin: 3, h: 9, w: 8, cout: 5, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
        { n: 3, cin: 6, h: 7, w: 7, cout: 4, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 }, // unet downsample
        { n: 11, cin: 2, h: 6, w: 5, cout: 1, kh: 1, kw: 2, strideH: 1, strideW: 2, padH: 0, padW: 1 }, // 11 images: 6 slices of 2
        { n: 1, cin: 5, h: 5, w: 6, cout: 3, kh: 3, kw: 2, strideH: 2, strideW: 1, padH: 0, padW: 0 },
        // padded rows of 22 floats get a pitch of 24 (paddedPitch); no padding but a pitch: 19 -> 20
        { n: 2, cin: 3, h: 4, w: 20, cout: 5, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
        { n: 2, cin: 2, h: 5, w: 19, cout: 3, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 0, padW: 0 },
        { n: 2, cin: 3, h: 6, w: 20, cout: 4, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 },
        // stride phases: stride 3 past the kernel in y (phase 2 of a 2-tall kernel has no tap: zeros),
        // a 1x1 stride 2 (3 of 4 phases of dx are zeros), and stride 1 padded past the kernel (dx by phases too)
        { n: 2, cin: 3, h: 10, w: 9, cout: 5, kh: 2, kw: 3, strideH: 3, strideW: 2, padH: 1, padW: 0 },
        { n: 2, cin: 4, h: 7, w: 8, cout: 3, kh: 1, kw: 1, strideH: 2, strideW: 2, padH: 0, padW: 0 },
        { n: 1, cin: 2, h: 5, w: 6, cout: 3, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 3, padW: 2 },
        // channels in whole tiles both ways: the aligned form (kernels/conv2d.ts) of the stride-1
        // forward (cout 8, with the bias) and of its input gradient (cin 4); each image's x grid of
        // 4 * 16 + 13 = 77 cells is 9 pairs of quads, one single quad and a scalar tail of 1
        { n: 2, cin: 4, h: 5, w: 13, cout: 8, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
      ];
      for (const c of cases) {
        const oh = convOutputSize(c.h, c.kh, c.strideH, c.padH);
        const ow = convOutputSize(c.w, c.kw, c.strideW, c.padW);
        const p: Conv2dParams = { ...c, oh, ow };
        const x = random(c.n * c.cin * c.h * c.w);
        const w = random(c.cout * c.cin * c.kh * c.kw);
        const gy = random(c.n * c.cout * oh * ow);
        const [gx, rx] = both(x);
        const [gw, rw] = both(w);
        const [ggy, rgy] = both(gy);
        const [ax, aw, agy] = [x, w, gy].map((d) => ref.fromArray(abs(d)));
        const ySize = c.n * c.cout * oh * ow;
        const what = `conv ${JSON.stringify(c)}`;
        const kIn = c.cin * c.kh * c.kw;
        expectAllClose(g.toArray(g.conv2d(gx, gw, p), ySize), ref.toArray(ref.conv2d(rx, rw, p), ySize), 0, ref.toArray(ref.conv2d(ax, aw, p), ySize).map((s) => gamma(kIn + 2) * s), `${what} forward`);
        expectAllClose(
          g.toArray(g.conv2dBackwardInput(ggy, gw, p), x.length),
          ref.toArray(ref.conv2dBackwardInput(rgy, rw, p), x.length),
          0,
          ref.toArray(ref.conv2dBackwardInput(agy, aw, p), x.length).map((s) => gamma(c.cout * c.kh * c.kw + 2) * s),
          `${what} backward input`,
        );
        expectAllClose(
          g.toArray(g.conv2dBackwardWeight(gx, ggy, p), w.length),
          ref.toArray(ref.conv2dBackwardWeight(rx, rgy, p), w.length),
          0,
          ref.toArray(ref.conv2dBackwardWeight(ax, agy, p), w.length).map((s) => gamma(c.n * oh * ow + 2) * s),
          `${what} backward weight`,
        );
        // the bias: added inside the stride-1 kernel, after the sum elsewhere; its gradient sums dy per channel
        const bias = random(c.cout);
        const [gb, rb] = both(bias);
        const biasBound = ref.toArray(ref.conv2d(ax, aw, p, ref.fromArray(abs(bias))), ySize).map((s) => gamma(kIn + 3) * s);
        expectAllClose(g.toArray(g.conv2d(gx, gw, p, gb), ySize), ref.toArray(ref.conv2d(rx, rw, p, rb), ySize), 0, biasBound, `${what} forward with bias`);
        const dbBound = ref.toArray(ref.conv2dBackwardBias(agy, p), c.cout).map((s) => gamma(c.n * oh * ow + 2) * s);
        expectAllClose(g.toArray(g.conv2dBackwardBias(ggy, p), c.cout), ref.toArray(ref.conv2dBackwardBias(rgy, p), c.cout), 0, dbBound, `${what} backward bias`);
      }
    });

    it('conv2d backward-weight sums 2 x 28 x 28 positions per weight (loops past 1000 in total)', () => {
      const p: Conv2dParams = { n: 2, cin: 3, h: 28, w: 28, cout: 6, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, oh: 28, ow: 28 };
      const x = random(2 * 3 * 784);
      const gy = random(2 * 6 * 784);
      const [gx, rx] = both(x);
      const [ggy, rgy] = both(gy);
      const bound = ref.toArray(ref.conv2dBackwardWeight(ref.fromArray(abs(x)), ref.fromArray(abs(gy)), p), 162).map((s) => gamma(2 * 784) * s);
      expectAllClose(g.toArray(g.conv2dBackwardWeight(gx, ggy, p), 162), ref.toArray(ref.conv2dBackwardWeight(rx, rgy, p), 162), 0, bound, 'dw');
    });

    it('pad2d: each plane at (top, left) inside zeros, pitches aligned or not', () => {
      const x = random(3 * 5 * 6);
      const [gx, rx] = both(x);
      for (const pd of [
        { planes: 3, h: 5, w: 6, top: 1, left: 1, outH: 7, outW: 8 },
        { planes: 3, h: 5, w: 6, top: 0, left: 3, outH: 9, outW: 13 },
        { planes: 3, h: 5, w: 6, top: 2, left: 0, outH: 7, outW: 6 },
      ]) {
        const size = pd.planes * pd.outH * pd.outW;
        expectAllClose(g.toArray(g.pad2d(gx, pd), size), ref.toArray(ref.pad2d(rx, pd), size), 0, 0, `pad2d ${JSON.stringify(pd)}`);
      }
    });

    it('upsample (with zero fill past the source) and sumPool (dropping the ragged edge)', () => {
      const x = random(2 * 3 * 4 * 5);
      const [gx, rx] = both(x);
      for (const up of [
        { n: 2, c: 3, h: 4, w: 5, scaleH: 2, scaleW: 2, outH: 8, outW: 10 },
        { n: 2, c: 3, h: 4, w: 5, scaleH: 2, scaleW: 3, outH: 9, outW: 17 },
      ]) {
        const size = up.n * up.c * up.outH * up.outW;
        expectAllClose(g.toArray(g.upsampleNearest2d(gx, up), size), ref.toArray(ref.upsampleNearest2d(rx, up), size), 0, 0, `upsample ${JSON.stringify(up)}`);
      }
      const y = random(2 * 3 * 9 * 11);
      const [gy, ry] = both(y);
      const pool = { n: 2, c: 3, h: 9, w: 11, kh: 2, kw: 3 };
      const size = 2 * 3 * 4 * 3;
      expectAllClose(g.toArray(g.sumPool2d(gy, pool), size), ref.toArray(ref.sumPool2d(ry, pool), size), 0, 6 * gamma(6), 'sumPool');
    });

    it('adamStep: Adam (L2) and AdamW (decoupled) match the reference', () => {
      const size = 1001;
      const [param, grad, m] = [random(size), random(size), random(size, -0.1, 0.1)];
      const v = random(size, 0, 0.01);
      const gb = [param, grad, m, v].map((d) => g.fromArray(d));
      const rb = [param, grad, m, v].map((d) => ref.fromArray(d));
      for (const decoupled of [false, true]) {
        const p = { size, lr: 2e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled, biasCorrection1: 1 - 0.9 ** 3, biasCorrection2: 1 - 0.999 ** 3 };
        const got = g.adamStep(gb[0], gb[1], gb[2], gb[3], p);
        const want = ref.adamStep(rb[0], rb[1], rb[2], rb[3], p);
        for (const k of ['param', 'm', 'v'] as const) {
          // float32 roundings of terms up to 0.1 (0.9 m + 0.1 g cancels): a few 1e-9 absolute
          expectAllClose(g.toArray(got[k], size), ref.toArray(want[k], size), 1e-6, 3e-8, `adam ${k} decoupled=${decoupled}`);
        }
      }
    });

    // ---- the traps of gpu.js 2.24.1 (src/backend/gpujs/runner.ts) ----

    it('trap: a kernel output is never overwritten by the next call of the same kernel', () => {
      const [a, b] = [g.fromArray(Float32Array.from([1, 2, 3])), g.fromArray(Float32Array.from([10, 20, 30]))];
      const first = g.unary('mulScalar', a, 3, 2);
      const second = g.unary('mulScalar', b, 3, 2);
      expect(Array.from(g.toArray(first, 3))).to.deep.equal([2, 4, 6]);
      expect(Array.from(g.toArray(second, 3))).to.deep.equal([20, 40, 60]);
    });

    it('trap: a kernel fed its own previous output (x = f(x), freeing the old x) stays correct', () => {
      let x = g.fromArray(Float32Array.from([1, -2, 3, 0.5]));
      for (let i = 0; i < 20; i++) {
        const next = g.unary('mulScalar', x, 4, 1.5);
        g.free?.(x); // GL: the texture goes back to gpu.js, which may reuse it for the next output
        x = next;
      }
      const f = 1.5 ** 20;
      expectAllClose(g.toArray(x, 4), Float32Array.from([f, -2 * f, 3 * f, 0.5 * f]), 1e-6, 0, 'x * 1.5^20');
    });

    it('trap: arguments that change size get their own compiled kernel; the cache reuses kernels per shape', () => {
      const before = { calls: 0, compiles: 0, ...g.kernelStats().find((s) => s.kernel === 'copyStrided') };
      const view = { strides: [2], offset: 1 };
      for (const n of [10, 30, 10, 30, 10]) {
        const src = g.fromArray(Float32Array.from({ length: n }, (_, i) => i));
        expect(Array.from(g.toArray(g.copyStrided({ buf: src, ...view }, [4]), 4))).to.deep.equal([1, 3, 5, 7]);
      }
      const after = g.kernelStats().find((s) => s.kernel === 'copyStrided')!;
      expect(after.calls - before.calls).to.equal(5);
      expect(after.compiles - before.compiles).to.equal(2); // sizes 10 and 30
    });

    it('GL: using a buffer after free() throws instead of reading a recycled texture (CPU modes have no free)', function () {
      if (!g.free) this.skip();
      const a = g.fromArray(Float32Array.from([1, 2]));
      g.free!(a);
      expect(() => g.unary('neg', a, 2)).to.throw(/freed/);
      expect(() => g.toArray(a, 2)).to.throw(/freed/);
    });

    it('memory stays bounded over 3000 kernel calls that free their outputs', () => {
      const x = g.fromArray(random(64 * 64));
      const base = g.memoryStats().liveTextures;
      const rss0 = process.memoryUsage().rss;
      for (let i = 0; i < 1500; i++) {
        const y = g.unary('exp', x, 4096);
        const z = g.binary('add', { buf: y, strides: [64, 1], offset: 0 }, { buf: x, strides: [0, 1], offset: 0 }, [64, 64]);
        g.free?.(y); // GL; in the CPU modes they are garbage now
        g.free?.(z);
      }
      expect(g.memoryStats().liveTextures).to.equal(base);
      const grownMB = (process.memoryUsage().rss - rss0) / 2 ** 20;
      expect(grownMB, `RSS grew ${grownMB.toFixed(1)} MB`).to.be.below(64);
    });

    it('memory stays bounded when tensors are just dropped (the garbage collector frees them)', async function () {
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc') as () => void;
      const x = withBackend(g, () => tensor(Array.from(random(1024))));
      const live = () => g.memoryStats().liveTextures;
      const rss0 = process.memoryUsage().rss;
      const settle = async () => {
        for (let k = 0; k < 3; k++) {
          gc();
          await new Promise((r) => setImmediate(r)); // finalizers run between tasks
        }
      };
      await settle();
      const base = live();
      for (let round = 0; round < 4; round++) {
        withBackend(g, () => {
          for (let i = 0; i < 300; i++) x.mul(2).add(1).exp().sum();
        });
        await settle();
      }
      expect(live() - base, `live textures after 4 x 300 dropped ops`).to.be.below(50);
      const grownMB = (process.memoryUsage().rss - rss0) / 2 ** 20;
      expect(grownMB, `RSS grew ${grownMB.toFixed(1)} MB`).to.be.below(64);
    });

    it('CPU modes: past kernelCacheBytes the least recently used kernels are dropped, and recompiled when needed', function () {
      if (mode === 'gpu') this.skip(); // GL kernels own their output textures: never evicted
      const small = new GpuJsBackend({ mode, kernelCacheBytes: 20_000 });
      try {
        const x = small.fromArray(random(1000)); // one unary kernel holds about 8 kB (input + output)
        for (const op of ['neg', 'abs', 'square', 'neg'] as const) {
          expectAllClose(small.toArray(small.unary(op, x, 1000), 1000), ref.toArray(ref.unary(op, ref.fromArray(small.toArray(x, 1000)), 1000), 1000), 0, 0, op);
        }
        expect(small.memoryStats().cachedKernels).to.be.at.most(2);
        expect(small.kernelStats().find((s) => s.kernel === 'unary.neg')!.compiles).to.equal(2);
      } finally {
        small.destroy();
      }
    });

    it('a buffer past 2^24 numbers is refused with a clear error (float32 index math would be inexact)', () => {
      const huge = { buf: g.fromArray(new Float32Array(1)), strides: [0], offset: 0 };
      expect(() => g.copyStrided(huge, [2 ** 24 + 1])).to.throw(/too large .* 2\^24/);
    });

    it('logs each compile with the debug option, and kernelStats lists calls and compile time', () => {
      const lines: string[] = [];
      const d = new GpuJsBackend({ mode, debug: true, log: (l) => lines.push(l) });
      try {
        const a = d.fromArray(random(6));
        d.unary('relu', a, 6);
        d.unary('relu', a, 6);
        const stat = d.kernelStats().find((s) => s.kernel === 'unary.relu')!;
        expect(stat).to.include({ calls: 2, compiles: 1 });
        expect(stat.compileMs).to.be.greaterThan(0);
        expect(lines.some((l) => /compiled unary\.relu \(\w+\) output \[6\] .* in [\d.]+ ms/.test(l)), lines.join('\n')).to.equal(true);
      } finally {
        d.destroy();
      }
    });
  });
}

describe('[unit 3: kernels] gpu.js: choosing a backend', () => {
  it('ref and gpujs:webasm are made as asked, with the reason "requested"', () => {
    const r = createBackend('ref');
    expect(r.backend.name).to.equal('ref');
    const w = createBackend('gpujs:webasm');
    expect(w).to.include({ spec: 'gpujs:webasm', reason: 'requested' });
    expect(w.backend.name).to.equal('gpujs-webasm');
    (w.backend as GpuJsBackend).destroy();
  });

  it('an unknown spec names the ones that exist', () => {
    expect(() => createBackend('gpujs:cuda')).to.throw(/unknown backend "gpujs:cuda".*gpujs:webasm/);
  });

  it('gpujs:gpu without a DISPLAY throws, saying what is missing and how to run it (no silent fallback)', function () {
    if (process.platform !== 'linux') this.skip();
    const display = process.env.DISPLAY;
    delete process.env.DISPLAY;
    try {
      const why = glAvailability();
      expect(why.ok).to.equal(false);
      expect(() => createBackend('gpujs:gpu')).to.throw(/gpujs:gpu is not available: .*(no DISPLAY.*xvfb-run|`gl` package)/);
      // 'gpujs' alone is webasm, which runs everywhere
      const choice = createBackend('gpujs');
      expect(choice.spec).to.equal('gpujs:webasm');
      (choice.backend as GpuJsBackend).destroy();
    } finally {
      if (display !== undefined) process.env.DISPLAY = display;
    }
  });

  it('auto times each backend that starts and reports the times with its choice', () => {
    const choice = createBackend('auto');
    expect(choice.reason).to.match(/^auto: fastest on a small conv \+ matmul probe \(/);
    expect(choice.reason).to.match(/ref [\d.]+ ms/);
    expect(choice.reason).to.match(/gpujs:webasm [\d.]+ ms/);
    if (!availability('gpu').ok) expect(choice.reason).to.match(/gpujs:gpu unavailable \(/);
    expect(choice.backend.name).to.equal(choice.spec.replace(':', '-'));
    (choice.backend as { destroy?: () => void }).destroy?.();
  });
});

/** One small call of every kernel family, as [name, values] pairs. */
function everyFamily(b: Backend): [string, Float32Array][] {
  const data = (n: number, k = 1) => b.fromArray(Float32Array.from({ length: n }, (_, i) => Math.sin(i * k + 0.3)));
  const x = data(2 * 3 * 5 * 4);
  const w = data(4 * 3 * 9, 2);
  const conv: Conv2dParams = { n: 2, cin: 3, h: 5, w: 4, cout: 4, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, oh: 5, ow: 4 };
  const gy = data(2 * 4 * 5 * 4, 3);
  const mm: MatmulParams = { batch: 2, m: 5, k: 3, n: 4, transA: false, transB: true, broadcastA: false, broadcastB: false };
  const adam = b.adamStep(x, x, x, data(120, 0), { size: 120, lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled: true, biasCorrection1: 0.1, biasCorrection2: 0.01 });
  const out: [string, Buf, number][] = [
    ['unary gelu', b.unary('gelu', x, 120), 120],
    ['binary maximum', b.binary('maximum', { buf: x, strides: [1, 2], offset: 0 }, { buf: w, strides: [0, 1], offset: 1 }, [2, 7]), 14],
    ['where', b.where({ buf: x, strides: [1], offset: 0 }, { buf: x, strides: [1], offset: 0 }, { buf: w, strides: [1], offset: 0 }, [9]), 9],
    ['copyStrided', b.copyStrided({ buf: x, strides: [1, 10], offset: 2 }, [10, 5]), 50],
    ['concat', b.concat([x, w], [3, 2], 10), 50],
    ['reduce argmax', b.reduce('argmax', x, 12, 10), 12],
    ['softmax', b.softmax(x, 6, 20), 120],
    ['matmul', b.matmul(x, w, mm), 40],
    ['conv2d', b.conv2d(x, w, conv), 160],
    ['conv2d backward input', b.conv2dBackwardInput(gy, w, conv), 120],
    ['conv2d backward weight', b.conv2dBackwardWeight(x, gy, conv), 108],
    ['upsample', b.upsampleNearest2d(x, { n: 2, c: 3, h: 5, w: 4, scaleH: 2, scaleW: 2, outH: 11, outW: 8 }), 528],
    ['sumPool', b.sumPool2d(x, { n: 2, c: 3, h: 5, w: 4, kh: 2, kw: 2 }), 24],
    ['pad2d', b.pad2d(x, { planes: 6, h: 5, w: 4, top: 1, left: 2, outH: 8, outW: 7 }), 336],
    ['adam param', adam.param, 120],
  ];
  return out.map(([name, buf, n]) => [name, b.toArray(buf, n)]);
}

describe('[unit 3: kernels] gpu.js: kernels parse from the compiled dist/ too', () => {
  // gpu.js parses each kernel function's source text; the tsc output must parse like ts-node's
  it('every kernel family runs from the tsc output and matches the reference (skipped when dist/ is missing or older than the sources)', function () {
    const root = path.join(__dirname, '..');
    const built = path.join(root, 'dist/src/backend/gpujs/index.js');
    if (!fs.existsSync(built)) this.skip();
    const builtAt = fs.statSync(built).mtimeMs;
    const sources = ['kernels', 'src/backend/gpujs'].flatMap((d) => fs.readdirSync(path.join(root, d)).map((f) => path.join(root, d, f)));
    if (sources.some((f) => fs.statSync(f).mtimeMs > builtAt)) this.skip();
    const dist = require(built) as typeof import('../src/backend/gpujs');
    const want = everyFamily(new RefBackend());
    for (const mode of ['webasm', 'gpu'] as const) {
      if (!dist.availability(mode).ok) continue;
      const b = new dist.GpuJsBackend({ mode });
      everyFamily(b).forEach(([name, got], i) => expectAllClose(got, want[i][1], 1e-4, 1e-5, `dist ${mode} ${name}`));
      b.destroy();
    }
  });
});
