/**
 * Issue 7: the webasm code-generator patch (src/backend/gpujs/webasm-codegen-patch.ts).
 *
 * The patch changes how indices are computed (i32 instead of f32) and how the floats are
 * loaded (one v128.load instead of a 4-lane gather, v128.load32_splat instead of load + splat),
 * never the float arithmetic of a kernel, except exp, which it computes in WebAssembly instead
 * of calling JavaScript's Math.exp (G). So every kernel family without exp must give BITWISE
 * the same result patched and unpatched, those with exp (exp, sigmoid, silu, tanh, gelu, erf, siluGrad,
 * softmax) the same within a few ulp, with exp itself within 1 ulp of the correctly rounded
 * value over the whole float range; and all must match the reference backend within float32
 * tolerance (the tolerances of gpujs.test.ts, which runs the patched backend by default).
 * Then the guards: reads the patch must not vectorize fall back to the gather, and give the
 * same numbers.
 */
import { expect } from 'chai';
import { GPU } from 'gpu.js';
import type { Buf, Conv2dParams, MatmulParams } from '../src/backend/backend';
import { BINARY_OPS, UNARY_OPS, convOutputSize } from '../src/backend/backend';
import { RefBackend } from '../src/backend/ref';
import { availability, GpuJsBackend } from '../src/backend/gpujs';
import { fmaAvailable, patchedConstantTypes, patchTargetProblem, PATCHED_GPUJS_VERSION, WRAPPED_EMITTER_METHODS, WRAPPED_FUNCTION_NODE_METHODS, WRAPPED_KERNEL_METHODS, webasmPatchStats, withWebasmPatch } from '../src/backend/gpujs/webasm-codegen-patch';
import { tileLayoutOf } from '../src/backend/gpujs/runner';
import { Generator } from '../src/random';

const U = 2 ** -24;
const gamma = (k: number) => (k * U) / (1 - k * U);

function expectBitwise(a: Float32Array, b: Float32Array, what: string): void {
  expect(a.length, `${what}: length`).to.equal(b.length);
  const ai = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const bi = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (ai[i] !== bi[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) expect.fail(`${what}: at ${i} patched ${a[i]}, stock ${b[i]}`);
  }
}

/** The distance between two floats in units in the last place of the float32 b. */
function ulpsApart(a: number, b: number): number {
  if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return 0;
  if (!Number.isFinite(a) || !Number.isFinite(b) || Number.isNaN(a) || Number.isNaN(b)) return Infinity;
  const mag = Math.abs(b);
  const ulp = mag < 2 ** -126 ? 2 ** -149 : 2 ** (Math.floor(Math.log2(mag)) - 23);
  return Math.abs(a - b) / ulp;
}

/**
 * a within `ulps` ulp of b; with `floor`, ulps of max(|b|, floor) instead (for formulas like
 * gelu's x (1 + erf(x / sqrt 2)) / 2, whose cancellation near erf = -1 enlarges any change in
 * exp relative to a small result, but not beyond the magnitude of the terms)
 */
function expectUlps(a: Float32Array, b: Float32Array, ulps: number, what: string, floor = 0): void {
  expect(a.length, `${what}: length`).to.equal(b.length);
  for (let i = 0; i < a.length; i++) {
    const bi = floor > 0 && Number.isFinite(b[i]) && Math.abs(b[i]) < floor ? floor : b[i];
    const apart = bi === b[i] ? ulpsApart(a[i], b[i]) : ulpsApart(bi + (a[i] - b[i]), bi);
    if (!(apart <= ulps)) expect.fail(`${what}: at ${i} got ${a[i]}, expected ${b[i]} (within ${ulps} ulp${floor ? ` of max(|x|, ${floor})` : ''})`);
  }
}

function expectClose(a: Float32Array, b: Float32Array, bound: Float32Array | number, what: string): void {
  expect(a.length, `${what}: length`).to.equal(b.length);
  for (let i = 0; i < a.length; i++) {
    const tol = typeof bound === 'number' ? bound : bound[i];
    if (!(Math.abs(a[i] - b[i]) <= tol) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) expect.fail(`${what}: at ${i} got ${a[i]}, expected ${b[i]} (tolerance ${tol})`);
  }
}

describe('[unit 3: kernels] the webasm patch: patched vs unpatched vs the reference, every kernel family', function () {
  let patched: GpuJsBackend;
  let stock: GpuJsBackend;
  let fused: GpuJsBackend;
  let onePerCall: GpuJsBackend;
  const ref = new RefBackend();
  const gen = new Generator(7);
  const random = (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * gen.uniform());
  const abs = (d: Float32Array) => d.map(Math.abs);

  before(function () {
    if (!availability('webasm').ok) this.skip();
    // patched and fused pair every kernel the patch can (M), not only those that ask
    patched = new GpuJsBackend({ mode: 'webasm', webasmPatch: true, webasmFma: false, webasmPairs: 'all' });
    stock = new GpuJsBackend({ mode: 'webasm', webasmPatch: false });
    fused = new GpuJsBackend({ mode: 'webasm', webasmPatch: true, webasmFma: true, webasmPairs: 'all' });
    onePerCall = new GpuJsBackend({ mode: 'webasm', webasmPatch: true, webasmFma: true, webasmPairs: false });
  });
  after(() => {
    patched?.destroy();
    stock?.destroy();
    fused?.destroy();
    onePerCall?.destroy();
  });

  /**
   * run f on patched (without fused multiply-adds), stock, ref and fused with the same inputs;
   * patched == stock bitwise (or within `ulps`, for kernels with exp); returns [patched, ref, fused].
   * fused (I) rounds each multiply-add once: the callers check it against ref with the float32
   * error bound; where they do not (`fusedSame`), it must equal patched bitwise (no `s += x * y`).
   * patched and fused compile two quads per call wherever the patch can (M); fused must equal
   * the same backend with one quad per call bitwise (stock has one quad per call: patched == stock
   * covers M without fused multiply-adds).
   */
  function three(inputs: Float32Array[], size: number, f: (b: any, bufs: Buf[]) => Buf, what: string, ulps = 0, fusedSame = true): [Float32Array, Float32Array, Float32Array] {
    const run = (b: any) => b.toArray(f(b, inputs.map((d) => b.fromArray(d))), size) as Float32Array;
    const p = run(patched);
    if (ulps === 0) expectBitwise(p, run(stock), what);
    else expectUlps(p, run(stock), ulps, what, 1);
    const fu = run(fused);
    expectBitwise(fu, run(onePerCall), `${what} (two quads per call against one, fused multiply-adds)`);
    if (fusedSame) expectBitwise(fu, p, `${what} (fused multiply-adds)`);
    return [p, run(ref), fu];
  }
  /** the unary and binary ops whose kernels call Math.exp (kernels/elementwise.ts) */
  const WITH_EXP = new Set(['exp', 'sigmoid', 'silu', 'tanh', 'gelu', 'erf', 'siluGrad']);

  it('G: exp in WebAssembly is within 1 ulp of the correctly rounded e^x over the whole float range, with 0, Infinity and NaN exact', () => {
    const before = webasmPatchStats();
    const n = 200001;
    const sweep = Array.from({ length: n }, (_, i) => -110 + (205 * i) / (n - 1)); // 0 below about -103.3, Infinity above 88.72
    const special = [0, -0, 1, -1, 88.7228, 88.7229, -87.3365, -103.28, -103.3, -Infinity, Infinity, NaN, 1e-30, -1e-30, Math.LN2 / 2, -Math.LN2 / 2];
    const x = Float32Array.from([...sweep, ...special]);
    for (const size of [x.length, 3]) {
      // both code paths: whole quads (SIMD) and a size below one quad (scalar)
      const got = patched.toArray(patched.unary('exp', patched.fromArray(x.subarray(x.length - size)), size), size) as Float32Array;
      const want = x.subarray(x.length - size).map((v) => Math.fround(Math.exp(v)));
      expectUlps(got, want, 1, `exp over [${size}]`);
    }
    const after = webasmPatchStats();
    expect(after.inlineExps - before.inlineExps).to.be.greaterThan(0);
  });

  it('L: float-to-int conversions as lane 0 of the vector conversion give stock\'s bits (strided index math, offsets)', () => {
    const before = webasmPatchStats().laneTruncs;
    const shape = [3, 5, 7];
    const size = 105;
    const l = random(size), r = random(5 * 7);
    // strided reads compute their indices with Math.floor in f32: every one is converted to i32
    three([l, r], size, (b, [a, c]) => b.binary('mul', { buf: a, offset: 0, strides: [1, 21, 3] }, { buf: c, offset: 0, strides: [0, 7, 1] }, shape), 'binary mul, a transposed view and a broadcast');
    three([l, l.slice().reverse()], 104, (b, [a, c]) => b.binary('siluGrad', { buf: a, offset: 1, strides: [1] }, { buf: c, offset: 0, strides: [1] }, [104]), 'siluGrad at an offset', 4);
    expect(webasmPatchStats().laneTruncs - before).to.be.greaterThan(0);
  });

  it('the patch is on by default and actually vectorizes the heavy kernels', () => {
    expect(patched.kernelStats).to.be.a('function');
    const before = webasmPatchStats();
    const p: MatmulParams = { batch: 1, m: 8, k: 8, n: 8, transA: false, transB: false, broadcastA: false, broadcastB: false };
    three([random(64), random(64)], 64, (b, [x, y]) => b.matmul(x, y, p), 'matmul 8^3', 0, false);
    const after = webasmPatchStats();
    expect(after.vectorLoads - before.vectorLoads).to.be.greaterThan(0);
    expect(after.splatLoads - before.splatLoads).to.be.greaterThan(0);
    expect(after.foldedOffsets - before.foldedOffsets).to.be.greaterThan(0);
    // Node 20 compiles relaxed SIMD once its flag is on (fmaAvailable turns it on)
    expect(fmaAvailable()).to.equal(true);
    expect(after.fusedMultiplyAdds - before.fusedMultiplyAdds).to.be.greaterThan(0);
  });

  it('unary and binary (strided, broadcast) ops, odd sizes', () => {
    for (const size of [1, 3, 5, 37, 1001]) {
      const x = random(size, -3, 3);
      for (const op of UNARY_OPS) {
        three([x], size, (b, [a]) => b.unary(op, a, size, 0.5, 2), `unary ${op} [${size}]`, WITH_EXP.has(op) ? 4 : 0);
      }
    }
    const shape = [3, 5, 7];
    const size = 105;
    const l = random(size);
    const rr = random(5);
    for (const op of BINARY_OPS) {
      // [3,5,7] op [1,5,1] broadcast, and a contiguous [105] op [105]
      const ulps = WITH_EXP.has(op) ? 4 : 0;
      const [p1] = three([l, rr], size, (b, [a, c]) => b.binary(op, { buf: a, offset: 0, strides: [35, 7, 1] }, { buf: c, offset: 0, strides: [0, 1, 0] }, shape), `binary ${op} broadcast`, ulps);
      const [p2] = three([l, l.slice().reverse()], size, (b, [a, c]) => b.binary(op, { buf: a, offset: 0, strides: [1] }, { buf: c, offset: 0, strides: [1] }, [size]), `binary ${op} contiguous`, ulps);
      expect(p1.length + p2.length).to.equal(2 * size);
    }
  });

  it('matmul: 512-ish tiles, m and k off the tiles, transposes, broadcasts', () => {
    const cases: Partial<MatmulParams>[] = [
      { batch: 1, m: 5, k: 3, n: 7 },
      { batch: 2, m: 13, k: 31, n: 9 },
      { batch: 1, m: 64, k: 129, n: 68 },
      { batch: 3, m: 49, k: 64, n: 49, transB: true },
      { batch: 2, m: 6, k: 1003, n: 5, transA: true, broadcastB: true },
      { batch: 4, m: 9, k: 17, n: 1, broadcastA: true, transA: true, transB: true },
    ];
    for (const c of cases) {
      const p: MatmulParams = { batch: 1, m: 1, k: 1, n: 1, transA: false, transB: false, broadcastA: false, broadcastB: false, ...c };
      const a = random((p.broadcastA ? 1 : p.batch) * p.m * p.k);
      const bb = random((p.broadcastB ? 1 : p.batch) * p.k * p.n);
      const size = p.batch * p.m * p.n;
      const [got, want, fu] = three([a, bb], size, (b, [x, y]) => b.matmul(x, y, p), `matmul ${JSON.stringify(c)}`, 0, false);
      const bound = ref.toArray(ref.matmul(ref.fromArray(abs(a)), ref.fromArray(abs(bb)), p), size).map((s) => gamma(p.k + 2) * s);
      expectClose(got, want, bound, `matmul ${JSON.stringify(c)} vs ref`);
      expectClose(fu, want, bound, `matmul ${JSON.stringify(c)} fused vs ref`);
    }
  });

  it('conv2d forward, backward-input, backward-weight: stride 1 (padded kernels) and stride 2, odd sizes, 1x1, channels off the tiles', () => {
    const cases = [
      { n: 2, cin: 3, h: 9, w: 8, cout: 5, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
      { n: 3, cin: 1, h: 7, w: 5, cout: 6, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
      { n: 2, cin: 5, h: 6, w: 7, cout: 1, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
      { n: 2, cin: 4, h: 5, w: 5, cout: 7, kh: 1, kw: 1, strideH: 1, strideW: 1, padH: 0, padW: 0 },
      { n: 1, cin: 2, h: 6, w: 9, cout: 3, kh: 3, kw: 2, strideH: 1, strideW: 1, padH: 0, padW: 1 },
      { n: 3, cin: 6, h: 7, w: 7, cout: 4, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 },
      // row pitches past the padded width (paddedPitch): 22 -> 24, and 19 -> 20 without padding
      { n: 2, cin: 3, h: 4, w: 20, cout: 5, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
      { n: 2, cin: 2, h: 5, w: 19, cout: 3, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 0, padW: 0 },
      { n: 2, cin: 3, h: 6, w: 20, cout: 4, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 },
      { n: 2, cin: 3, h: 10, w: 9, cout: 5, kh: 2, kw: 3, strideH: 3, strideW: 2, padH: 1, padW: 0 },
    ];
    for (const c of cases) {
      const oh = convOutputSize(c.h, c.kh, c.strideH, c.padH);
      const ow = convOutputSize(c.w, c.kw, c.strideW, c.padW);
      const p: Conv2dParams = { ...c, oh, ow };
      const x = random(c.n * c.cin * c.h * c.w);
      const w = random(c.cout * c.cin * c.kh * c.kw);
      const gy = random(c.n * c.cout * oh * ow);
      const what = `conv ${JSON.stringify(c)}`;
      const ySize = c.n * c.cout * oh * ow;
      const [f, fr, ff] = three([x, w], ySize, (b, [xx, ww]) => b.conv2d(xx, ww, p), `${what} forward`, 0, false);
      const fBound = ref.toArray(ref.conv2d(ref.fromArray(abs(x)), ref.fromArray(abs(w)), p), ySize).map((s) => gamma(c.cin * c.kh * c.kw + 2) * s);
      expectClose(f, fr, fBound, `${what} forward vs ref`);
      expectClose(ff, fr, fBound, `${what} forward fused vs ref`);
      const [bi, bir, bif] = three([gy, w], x.length, (b, [g, ww]) => b.conv2dBackwardInput(g, ww, p), `${what} backward input`, 0, false);
      const biBound = ref.toArray(ref.conv2dBackwardInput(ref.fromArray(abs(gy)), ref.fromArray(abs(w)), p), x.length).map((s) => gamma(c.cout * c.kh * c.kw + 2) * s);
      expectClose(bi, bir, biBound, `${what} backward input vs ref`);
      expectClose(bif, bir, biBound, `${what} backward input fused vs ref`);
      const [bw, bwr, bwf] = three([x, gy], w.length, (b, [xx, g]) => b.conv2dBackwardWeight(xx, g, p), `${what} backward weight`, 0, false);
      const bwBound = ref.toArray(ref.conv2dBackwardWeight(ref.fromArray(abs(x)), ref.fromArray(abs(gy)), p), w.length).map((s) => gamma(c.n * oh * ow + 2) * s);
      expectClose(bw, bwr, bwBound, `${what} backward weight vs ref`);
      expectClose(bwf, bwr, bwBound, `${what} backward weight fused vs ref`);
    }
  });

  it('reductions, softmax, copies, concat, resampling, adam', () => {
    const x = random(7 * 1030);
    for (const op of ['sum', 'max', 'min', 'argmax', 'argmin'] as const) three([x], 7, (b, [a]) => b.reduce(op, a, 7, 1030), `reduce ${op}`);
    three([x], 7 * 1030, (b, [a]) => b.softmax(a, 7, 1030), 'softmax', 8);
    three([x], 1030 * 7, (b, [a]) => b.copyStrided({ buf: a, offset: 0, strides: [1, 1030] }, [1030, 7]), 'transpose');
    three([x, random(7 * 3)], 7 * 1033, (b, [a, c]) => b.concat([a, c], [1030, 3], 7), 'concat');
    const adam = { size: 1030, lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled: true, biasCorrection1: 0.1, biasCorrection2: 0.01 };
    three([x.subarray(0, 1030), x.subarray(1030, 2060), x.subarray(2060, 3090), abs(x.subarray(3090, 4120))], 1030, (b, [pp, g, m, v]) => b.adamStep(pp, g, m, v, adam).param, 'adam');
    const up = { n: 2, c: 3, h: 4, w: 5, scaleH: 2, scaleW: 3, outH: 9, outW: 17 };
    three([random(120)], 2 * 3 * 9 * 17, (b, [a]) => b.upsampleNearest2d(a, up), 'upsample');
    const pool = { n: 2, c: 3, h: 9, w: 11, kh: 2, kw: 2 };
    three([random(2 * 3 * 99)], 2 * 3 * 20, (b, [a]) => b.sumPool2d(a, pool), 'sumPool');
  });
});

describe('[unit 3: kernels] the webasm patch: guards: what must stay a gather', function () {
  let gpu: any;
  before(function () {
    if (!availability('webasm').ok) this.skip();
    gpu = new GPU({ mode: 'webasm' });
  });
  after(() => gpu?.destroy());

  const n = 64;
  const a = Float32Array.from({ length: n + 8 }, (_, i) => i * 1.5 - 7);
  /** build + run a kernel patched and unpatched: same output bitwise; returns the patch's counters for the patched build */
  function build(fn: (...args: any[]) => number, output: number[], constants: Record<string, number>, args: unknown[]): { vectorLoads: number; gathers: number } {
    const make = (on: boolean) => {
      const settings: any = { output, constants, precision: 'single', pipeline: true, immutable: true };
      if (on) settings.constantTypes = patchedConstantTypes(constants);
      const k = gpu.createKernel(fn, settings);
      const before = webasmPatchStats();
      const out = withWebasmPatch(on, () => k(...args));
      const after = webasmPatchStats();
      const flat = (v: any): number[] => (v instanceof Float32Array ? Array.from(v) : Array.from(v as ArrayLike<any>).flatMap(flat));
      return { out: Float32Array.from(flat(out)), vectorLoads: after.vectorLoads - before.vectorLoads, gathers: after.gathers - before.gathers };
    };
    const p = make(true);
    const s = make(false);
    expectBitwise(p.out, s.out, fn.name);
    return p;
  }

  it('a[this.thread.x + uniform integer terms] becomes a vector load, with the same numbers', () => {
    const r = build(function plain(this: any, x: Float32Array) {
      let s = 0;
      for (let q = 0; q < 3; q++) s += x[this.thread.x + q + this.constants.off];
      return s;
    }, [n], { off: 2 }, [a]);
    expect(r.vectorLoads).to.be.greaterThan(0);
  });

  it('a read under a divergent branch stays a gather', () => {
    const r = build(function divergent(this: any, x: Float32Array) {
      let s = 0;
      if (this.thread.x > 5) {
        s = x[this.thread.x + this.constants.off];
      }
      return s;
    }, [n], { off: 1 }, [a]);
    expect(r.vectorLoads).to.equal(0);
    expect(r.gathers).to.be.greaterThan(0);
  });

  it('a 2-D subscript, a scaled thread.x, a thread.x hidden in a local, and a float-typed term stay gathers', () => {
    const m2 = [Array.from({ length: 8 }, (_, i) => Float32Array.from({ length: n }, (_, j) => i * 100 + j))].flat();
    const r1 = build(function twoD(this: any, x: number[][]) {
      return x[this.thread.y][this.thread.x];
    }, [n, 8], {}, [m2]);
    const r2 = build(function scaled(this: any, x: Float32Array) {
      return x[this.thread.x + this.thread.x];
    }, [n / 2], {}, [a]);
    const r3 = build(function hidden(this: any, x: Float32Array) {
      const j = this.thread.x;
      return x[j + 1];
    }, [n], {}, [a]);
    const r4 = build(function fractional(this: any, x: Float32Array, off: number) {
      return x[this.thread.x + off];
    }, [n], {}, [a, 2.5]);
    for (const r of [r1, r2, r3, r4]) expect(r.vectorLoads).to.equal(0);
  });

  it('H: constant subscript terms go into the load offset only when the other terms cannot be negative', () => {
    const before = webasmPatchStats().foldedOffsets;
    build(function folded(this: any, x: Float32Array) {
      let s = 0;
      for (let q = 0; q < 3; q++) s += x[q + this.constants.off] * x[this.thread.x + q + 2];
      return s;
    }, [n], { off: 5 }, [a]);
    expect(webasmPatchStats().foldedOffsets - before).to.be.greaterThan(0);
    // o goes negative: folding 8 into the offset would make the address (o << 2) wrap to 2^32 - 12
    const mid = webasmPatchStats().foldedOffsets;
    build(function negative(this: any, x: Float32Array) {
      let o = 0;
      o = o - 3;
      const c = this.thread.y - 1;
      return x[o + 8] + x[c + 1];
    }, [n], {}, [a]);
    expect(webasmPatchStats().foldedOffsets - mid).to.equal(0);
  });

  it('K: Array(4) results row-major ([z][4 yb + c][x]), in SIMD quads, the scalar tail and under a divergent return', () => {
    const output = [6, 2, 3]; // rows of 6: one quad and a scalar tail of 2
    const make = (rowMajor: boolean) => {
      const settings: any = { output, constants: {}, precision: 'single', pipeline: true, immutable: true, returnType: 'Array(4)' };
      if (rowMajor) settings.constantTypes = {};
      const k = gpu.createKernel(function tile(this: any, x: Float32Array) {
        const v = x[this.thread.x + this.thread.y * 6 + this.thread.z * 12];
        if (this.thread.x % 2 > 0) {
          return [v, -v, 2 * v, this.thread.y];
        }
        return [v + 1, v - 1, this.thread.z, 7];
      }, settings);
      const before = webasmPatchStats().rowMajorStores;
      const out = withWebasmPatch(rowMajor, () => k(a), false, [], rowMajor);
      const flat = (v: any): number[] => (v instanceof Float32Array ? Array.from(v) : Array.from(v as ArrayLike<any>).flatMap(flat));
      return { out: Float32Array.from(flat(out)), stores: webasmPatchStats().rowMajorStores - before };
    };
    const stock = make(false);
    const rows = make(true);
    expect(rows.stores).to.be.greaterThan(0);
    const [X, YB, Z] = output;
    for (let z = 0; z < Z; z++)
      for (let yb = 0; yb < YB; yb++)
        for (let x = 0; x < X; x++)
          for (let c = 0; c < 4; c++) {
            const want = stock.out[((z * YB + yb) * X + x) * 4 + c];
            const got = rows.out[((z * YB + yb) * 4 + c) * X + x];
            if (got !== want) expect.fail(`cell (${x}, ${yb}, ${z}) component ${c}: row-major ${got}, stock ${want}`);
          }
  });

  it('a loop counter assigned in its body is not made an integer', () => {
    build(function assigned(this: any, x: Float32Array) {
      let s = 0;
      for (let q = 0; q < 4; q++) {
        s += x[this.thread.x] * q;
        q = q + 0.5;
      }
      return s;
    }, [n], {}, [a]);
  });
});

describe('[unit 3: kernels] the webasm patch: two quads per call (M)', function () {
  let gpu: any;
  before(function () {
    if (!availability('webasm').ok || !fmaAvailable()) this.skip();
    gpu = new GPU({ mode: 'webasm' });
  });
  after(() => gpu?.destroy());

  const gen = new Generator(5);
  const x = Float32Array.from({ length: 4096 }, () => gen.uniform() * 2 - 1);
  const w = Float32Array.from({ length: 64 }, () => gen.uniform() * 2 - 1);
  /** build + run a kernel patched with fused multiply-adds, with and without M: the same bits; the counters of the build with M */
  function pairs(fn: (...args: any[]) => any, output: number[], constants: Record<string, number>, args: unknown[], returnType?: string): { pairedKernels: number; sharedSplats: number } {
    const make = (m: boolean) => {
      const settings: any = { output, constants, precision: 'single', pipeline: true, immutable: true, constantTypes: patchedConstantTypes(constants) };
      if (returnType) settings.returnType = returnType;
      const k = gpu.createKernel(fn, settings);
      if (fn.name === 'callsHelper') k.addFunction(function twice(v: number) {
        return v * 2;
      });
      const before = webasmPatchStats();
      const out = withWebasmPatch(true, () => k(...args), true, [], false, m);
      const after = webasmPatchStats();
      const flat = (v: any): number[] => (v instanceof Float32Array ? Array.from(v) : Array.from(v as ArrayLike<any>).flatMap(flat));
      return { out: Float32Array.from(flat(out)), pairedKernels: after.pairedKernels - before.pairedKernels, sharedSplats: after.sharedSplats - before.sharedSplats };
    };
    const one = make(false);
    const two = make(true);
    expect(one.pairedKernels, `${fn.name} without M`).to.equal(0);
    expectBitwise(two.out, one.out, `${fn.name}: two quads per call against one`);
    return two;
  }

  it('a register-tiled kernel gets kernel_simd2, shares its splatted weights between the quads, and gives the same bits in pairs, a last single quad and the scalar tail', () => {
    // rows of 13 cells: one pair (8), one single quad (4), a scalar tail of 1; three rows, two planes
    const r = pairs(function tiled(this: any, a: Float32Array, b: Float32Array) {
      let s0 = 0;
      let s1 = 0;
      const row = this.thread.y * 13 + this.thread.z * 39;
      for (let k = 0; k < this.constants.k; k++) {
        const v = a[row + this.thread.x + k];
        s0 += b[k] * v;
        s1 += b[k + this.constants.k] * v;
      }
      return [s0, s1, s0 - s1, this.thread.x];
    }, [13, 3, 2], { k: 16 }, [x, w], 'Array(4)');
    expect(r.pairedKernels).to.equal(1);
    expect(r.sharedSplats).to.be.greaterThan(0);
  });

  it('pairs a kernel with a lane-uniform if and a varying one (emitted twice, each quad its own locals)', () => {
    const r = pairs(function branches(this: any, a: Float32Array) {
      let s = a[this.thread.x];
      if (this.constants.flag > 0) {
        s = s * 2;
      }
      if (s > 0.25) {
        s = s - a[this.thread.x + 1];
      }
      return s;
    }, [203], { flag: 1 }, [x]);
    expect(r.pairedKernels).to.equal(1);
  });

  it('keeps one quad per call where the pair would be wrong: a return under a lane mask, a while loop, a helper function', () => {
    const refused = [
      pairs(function maskedReturn(this: any, a: Float32Array) {
        if (a[this.thread.x] > 0) {
          return 1;
        }
        return a[this.thread.x];
      }, [37], {}, [x]),
      pairs(function whileLoop(this: any, a: Float32Array) {
        let s = 0;
        let i = 0;
        while (i < 3) {
          s += a[this.thread.x + i];
          i++;
        }
        return s;
      }, [37], {}, [x]),
      pairs(function callsHelper(this: any, a: Float32Array) {
        // eslint-disable-next-line @typescript-eslint/ban-ts-comment
        // @ts-ignore: a gpu.js function added to the kernel
        return twice(a[this.thread.x]);
      }, [37], {}, [x]),
    ];
    refused.forEach((r, i) => expect(r.pairedKernels, `case ${i}`).to.equal(0));
  });

  it('N: kernel_simd copies thread.x into one local, kernel_simd2 both quads\' into two, and the contiguous loads read them (values as a loop computes them)', () => {
    const run = (m: boolean) => {
      const constants = {};
      const k = gpu.createKernel(function shifted(this: any, a: Float32Array) {
        return a[this.thread.x + 1] * 2 + a[this.thread.x];
      }, { output: [29], constants, precision: 'single', pipeline: false, immutable: true, constantTypes: patchedConstantTypes(constants) });
      const before = webasmPatchStats();
      const out = withWebasmPatch(true, () => k(x), true, [], false, m) as Float32Array;
      const after = webasmPatchStats();
      return { out, locals: after.threadXLocals - before.threadXLocals, loads: after.vectorLoads - before.vectorLoads };
    };
    const want = Float32Array.from({ length: 29 }, (_, i) => Math.fround(Math.fround(x[i + 1] * 2) + x[i]));
    const one = run(false);
    const two = run(true);
    expect(one.locals, 'one quad').to.equal(1);
    expect(two.locals, 'two quads').to.equal(3);
    expect(one.loads, 'contiguous loads').to.be.greaterThan(0);
    expectBitwise(one.out, want, 'one quad per call');
    expectBitwise(two.out, want, 'two quads per call');
  });

  it('the backend asks for M only for the kernels whose spec says so (the weight gradient, the aligned convolutions), or for all with webasmPairs: \'all\'', () => {
    const p: Conv2dParams = { n: 2, cin: 3, h: 11, w: 11, cout: 5, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, oh: 11, ow: 11 };
    const xs = x.subarray(0, 2 * 3 * 121);
    const gy = x.subarray(1000, 1000 + 2 * 5 * 121);
    const paired = (_: GpuJsBackend, f: () => unknown) => {
      const before = webasmPatchStats().pairedKernels;
      f();
      return webasmPatchStats().pairedKernels - before;
    };
    const measured = new GpuJsBackend({ mode: 'webasm' });
    const all = new GpuJsBackend({ mode: 'webasm', webasmPairs: 'all' });
    const none = new GpuJsBackend({ mode: 'webasm', webasmPairs: false });
    try {
      // forward: the padding kernel and the conv; backward weight: the transposes, the padding, the
      // weight kernel and the slice sum (the weight kernel the only one that asks)
      expect(paired(measured, () => measured.conv2d(measured.fromArray(xs), measured.fromArray(w.subarray(0, 45)), p)), 'forward, measured').to.equal(0);
      expect(paired(measured, () => measured.conv2dBackwardWeight(measured.fromArray(xs), measured.fromArray(gy), p)), 'backward weight, measured').to.equal(1);
      expect(paired(all, () => all.conv2d(all.fromArray(xs), all.fromArray(w.subarray(0, 45)), p)), 'forward, all').to.equal(2);
      expect(paired(all, () => all.conv2dBackwardWeight(all.fromArray(xs), all.fromArray(gy), p)), 'backward weight, all').to.be.greaterThan(1);
      expect(paired(none, () => none.conv2dBackwardWeight(none.fromArray(xs), none.fromArray(gy), p)), 'backward weight, none').to.equal(0);
      // channels in whole tiles: the forward conv is the aligned form, which asks for M
      const p4: Conv2dParams = { ...p, cout: 4 };
      const w4 = Float32Array.from({ length: 4 * 3 * 9 }, (_, i) => Math.sin(i));
      expect(paired(measured, () => measured.conv2d(measured.fromArray(xs), measured.fromArray(w4), p4)), 'aligned forward, measured').to.equal(1);
      expect(paired(none, () => none.conv2d(none.fromArray(xs), none.fromArray(w4), p4)), 'aligned forward, none').to.equal(0);
    } finally {
      measured.destroy();
      all.destroy();
      none.destroy();
    }
  });
});

describe('[unit 3: kernels] webasm on two threads: one kernel call split over a helper thread (webasm-threads.ts)', function () {
  let one: GpuJsBackend;
  let two: GpuJsBackend;
  const gen = new Generator(11);
  const random = (n: number) => Float32Array.from({ length: n }, () => gen.uniform() * 2 - 1);
  before(function () {
    if (!availability('webasm').ok) this.skip();
    one = new GpuJsBackend({ mode: 'webasm' });
    two = new GpuJsBackend({ mode: 'webasm', webasmThreads: 2 });
  });
  after(() => {
    one?.destroy();
    two?.destroy();
  });
  const both = (inputs: Float32Array[], size: number, f: (b: any, bufs: Buf[]) => Buf, what: string) => {
    const run = (b: any) => b.toArray(f(b, inputs.map((d) => b.fromArray(d))), size) as Float32Array;
    expectBitwise(run(two), run(one), what);
  };

  it('matmul and the convolutions give the same bits as one thread: rows of whole quads, rows with a scalar tail, odd row counts', () => {
    // (output cells >= 4096 each: 260 x 16 row tiles; 350 x 6 x 3 with rows of 350 = 87 quads + 2; 11 rows of 400, odd)
    for (const c of [
      { batch: 1, m: 64, k: 33, n: 260 },
      { batch: 3, m: 22, k: 17, n: 350 },
      { batch: 1, m: 44, k: 64, n: 400 },
    ]) {
      const p: MatmulParams = { transA: false, transB: false, broadcastA: false, broadcastB: false, ...c };
      both([random(p.batch * p.m * p.k), random(p.batch * p.k * p.n)], p.batch * p.m * p.n, (b, [x, y]) => b.matmul(x, y, p), `matmul ${JSON.stringify(c)}`);
    }
    const p: Conv2dParams = { n: 3, cin: 9, h: 20, w: 20, cout: 9, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, oh: 20, ow: 20 };
    const x = random(3 * 9 * 400);
    const w = random(9 * 9 * 9);
    const gy = random(3 * 9 * 400);
    both([x, w], gy.length, (b, [xx, ww]) => b.conv2d(xx, ww, p), 'conv forward');
    both([gy, w], x.length, (b, [g, ww]) => b.conv2dBackwardInput(g, ww, p), 'conv backward input');
    both([x, gy], w.length, (b, [xx, g]) => b.conv2dBackwardWeight(xx, g, p), 'conv backward weight');
    const paths = [...((two as any).runner.cache as Map<string, { kernel: any }>).entries()].map(([key, c]) => `${key.split('|')[0]} ${c.kernel.kernel._lastRunPath}`);
    expect(paths.filter((k) => k === 'matmul two-threads').length, paths.join(', ')).to.equal(3);
    // the two stride-1 conv kernels have 476 x 3 x 3 output cells; backward-weight's 9 x 27 x 3 stay on one thread
    expect(paths.filter((k) => k === 'conv2d.forward two-threads' || k === 'conv2d.backwardInput two-threads').length, paths.join(', ')).to.equal(2);
  });

  it('runs a kernel below 4096 output cells on one thread', () => {
    const small = new GpuJsBackend({ mode: 'webasm', webasmThreads: 2 });
    const p: MatmulParams = { batch: 1, m: 8, k: 8, n: 8, transA: false, transB: false, broadcastA: false, broadcastB: false };
    small.matmul(small.fromArray(random(64)), small.fromArray(random(64)), p);
    const [entry] = [...((small as any).runner.cache as Map<string, { kernel: any }>).values()];
    expect(entry.kernel.kernel._lastRunPath).to.not.equal('two-threads');
    small.destroy();
  });

  it('refuses a thread count other than 1 or 2', () => {
    expect(() => new GpuJsBackend({ mode: 'webasm', webasmThreads: 3 })).to.throw('gpujs: webasmThreads must be 1 or 2, got 3');
  });

  it('the runner lays a tile4 kernel out as its code stores it: with the row-major rewrite (K) held off, gpu.js\'s layout, and the same bits', () => {
    const noK = new GpuJsBackend({ mode: 'webasm', webasmPatch: true, webasmFma: false, webasmRowMajorTiles: false });
    const patched = new GpuJsBackend({ mode: 'webasm', webasmPatch: true, webasmFma: false });
    const stock = new GpuJsBackend({ mode: 'webasm', webasmPatch: false });
    try {
      const p: MatmulParams = { batch: 2, m: 13, k: 31, n: 9, transA: false, transB: false, broadcastA: false, broadcastB: false };
      const a = random(2 * 13 * 31);
      const bb = random(2 * 31 * 9);
      const run = (b: any) => b.toArray(b.matmul(b.fromArray(a), b.fromArray(bb), p), 2 * 13 * 9) as Float32Array;
      expectBitwise(run(noK), run(patched), 'matmul without K vs with K');
      const cp: Conv2dParams = { n: 2, cin: 5, h: 9, w: 9, cout: 6, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, oh: 9, ow: 9 };
      const x = random(2 * 5 * 81);
      const w = random(6 * 5 * 9);
      const conv = (b: any) => b.toArray(b.conv2d(b.fromArray(x), b.fromArray(w), cp), 2 * 6 * 81) as Float32Array;
      expectBitwise(conv(noK), conv(patched), 'conv2d without K vs with K');
      const layouts = (b: GpuJsBackend) => (b as any).runner.kernelTileLayouts() as Record<string, string>;
      expect(Object.keys(layouts(noK))).to.include.members(['matmul', 'conv2d.forward']);
      expect(Object.values(layouts(noK)).every((l) => l === 'gpu.js'), JSON.stringify(layouts(noK))).to.equal(true);
      expect(layouts(patched).matmul).to.equal('row-major');
      expect(layouts(patched)['conv2d.forward']).to.equal('row-major');
      run(stock);
      expect((stock as any).runner.kernelTileLayouts().matmul).to.equal('gpu.js');
    } finally {
      noK.destroy();
      patched.destroy();
      stock.destroy();
    }
    // a rewrite that ran in one of the two code walks only would mix the layouts: refused
    expect(tileLayoutOf('k', true, true, true)).to.equal(true);
    expect(tileLayoutOf('k', true, false, false)).to.equal(true);
    expect(tileLayoutOf('k', false, false, true)).to.equal(false);
    expect(() => tileLayoutOf('k', true, false, true)).to.throw(/kernel k: the webasm patch stored its tiles row-major in the scalar code but not in the SIMD code/);
    expect(() => tileLayoutOf('k', false, true, true)).to.throw(/row-major in the SIMD code but not in the scalar code/);
  });
});

describe('[unit 3: kernels] the webasm patch refuses a gpu.js it was not written for', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { WebAssemblyFunctionNode } = require('gpu.js/src/backend/web-assembly/function-node');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { WasmFunctionEmitter } = require('gpu.js/src/backend/web-assembly/wasm-builder');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { WebAssemblyKernel } = require('gpu.js/src/backend/web-assembly/kernel');
  const kernel = WebAssemblyKernel.prototype;

  it('the installed gpu.js is the pinned one and has every wrapped method', () => {
    for (const m of WRAPPED_EMITTER_METHODS) expect(typeof WasmFunctionEmitter.prototype[m], m).to.equal('function');
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    expect(require('gpu.js/package.json').version).to.equal(PATCHED_GPUJS_VERSION);
    expect(patchTargetProblem(PATCHED_GPUJS_VERSION, WebAssemblyFunctionNode.prototype, WasmFunctionEmitter.prototype, WebAssemblyKernel.prototype)).to.equal(null);
    for (const m of WRAPPED_FUNCTION_NODE_METHODS) expect(typeof WebAssemblyFunctionNode.prototype[m], m).to.equal('function');
    for (const m of WRAPPED_KERNEL_METHODS) expect(typeof kernel[m], m).to.equal('function');
  });

  it('another version, a missing method: one clear message naming it and what to do', () => {
    const node = WebAssemblyFunctionNode.prototype;
    expect(patchTargetProblem('2.25.0', node, WasmFunctionEmitter.prototype, kernel)).to.match(/was written for gpu.js 2\.24\.1, but gpu.js 2\.25\.0 is installed; install the pinned release \(npm ci\), or turn the patch off: TINY_DDPM_WEBASM_PATCH=0/);
    const withoutGather = Object.fromEntries(WRAPPED_FUNCTION_NODE_METHODS.filter((m) => m !== 'vGather').map((m) => [m, node[m]]));
    expect(patchTargetProblem(PATCHED_GPUJS_VERSION, withoutGather, WasmFunctionEmitter.prototype, kernel)).to.match(/wraps WebAssemblyFunctionNode\.vGather, which this gpu.js 2\.24\.1 does not have/);
    expect(patchTargetProblem(PATCHED_GPUJS_VERSION, node, {}, kernel)).to.match(/wraps WasmFunctionEmitter\.call,/);
    const withoutTrunc = { call: WasmFunctionEmitter.prototype.call };
    expect(patchTargetProblem(PATCHED_GPUJS_VERSION, node, withoutTrunc, kernel)).to.match(/wraps WasmFunctionEmitter\.i32TruncSatF32S, which this gpu.js 2\.24\.1 does not have/);
    expect(patchTargetProblem(PATCHED_GPUJS_VERSION, node, WasmFunctionEmitter.prototype, {})).to.match(/wraps WebAssemblyKernel\._emitRunSimd, which this gpu.js 2\.24\.1 does not have/);
  });
});
