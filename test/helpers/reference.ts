/**
 * Independent helpers for the tests: seeded random data, plain nested-loop references over
 * JavaScript numbers (float64), and a tolerant comparison with a helpful message.
 *
 * Nothing here calls a tensor op: a reference works on an `Arr` (row-major numbers plus a
 * shape) so that it cannot share a bug with the code under test. Tensors are only made (with
 * the public `tensor()` and views) and read back (with `toArray()`).
 */
import { expect } from 'chai';
import { Generator } from '../../src/random';
import { tensor } from '../../src/creation';
import type { Tensor } from '../../src/tensor';

export type Shape = number[];

/** A row-major array of numbers with a shape: the tests' own plain tensor. */
export interface Arr {
  data: number[];
  shape: Shape;
}

// ---------------------------------------------------------------- indexing

export function sizeOf(shape: Shape): number {
  return shape.reduce((p, s) => p * s, 1);
}

/** Row-major strides: the step in the flat array for +1 along each dim. */
export function rowMajorStrides(shape: Shape): number[] {
  const st = new Array(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) st[d] = st[d + 1] * shape[d + 1];
  return st;
}

/** Flat index -> multi-index. */
export function unravel(i: number, shape: Shape): number[] {
  const idx = new Array(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

/** Multi-index -> flat index. */
export function ravel(idx: number[], shape: Shape): number {
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d] + idx[d];
  return i;
}

export function at(a: Arr, idx: number[]): number {
  return a.data[ravel(idx, a.shape)];
}

/** A new Arr of `shape` whose element at each multi-index is f(index). */
export function build(shape: Shape, f: (idx: number[]) => number): Arr {
  const data = new Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = f(unravel(i, shape));
  return { data, shape: shape.slice() };
}

// ---------------------------------------------------------------- random data

/** Uniform numbers in [lo, hi), rounded to float32 so the tensor holds exactly these values. */
export function randomData(gen: Generator, n: number, lo = -1, hi = 1): number[] {
  return Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * gen.uniform()));
}

export function randomArr(gen: Generator, shape: Shape, lo = -1, hi = 1): Arr {
  return { data: randomData(gen, sizeOf(shape), lo, hi), shape: shape.slice() };
}

/** Numbers with |x| in [lo, hi) and a random sign: away from a kink at 0 (abs, relu). */
export function awayFromZero(gen: Generator, shape: Shape, lo = 0.2, hi = 2): Arr {
  return build(shape, () => Math.fround((gen.uniform() < 0.5 ? -1 : 1) * (lo + (hi - lo) * gen.uniform())));
}

/**
 * Distinct values at least `gap` apart, in random order: max/min have no ties and no kink
 * within a finite-difference step.
 */
export function distinctArr(gen: Generator, shape: Shape, gap = 0.05): Arr {
  const n = sizeOf(shape);
  const order = gen.permutation(n);
  return { data: order.map((k) => Math.fround((k - n / 2) * gap + 0.25 * gap * gen.uniform())), shape: shape.slice() };
}

export function randomInt(gen: Generator, lo: number, hi: number): number {
  return lo + gen.randint(hi - lo + 1);
}

/** A random shape with ndim in [minDims, maxDims] and sides in [1, maxSide]. */
export function randomShape(gen: Generator, minDims = 1, maxDims = 4, maxSide = 4): Shape {
  const nd = randomInt(gen, minDims, maxDims);
  return Array.from({ length: nd }, () => randomInt(gen, 1, maxSide));
}

/**
 * A shape that broadcasts against `shape`: some leading dims dropped, some others set to 1.
 * Returned in random order with `shape`, so either side may be the smaller one.
 */
export function randomBroadcastPair(gen: Generator, minDims = 1, maxDims = 4, maxSide = 4): [Shape, Shape] {
  const full = randomShape(gen, minDims, maxDims, Math.max(2, maxSide));
  const drop = randomInt(gen, 0, full.length - 1);
  const other = full.slice(drop).map((s) => (gen.uniform() < 0.35 ? 1 : s));
  return gen.uniform() < 0.5 ? [full, other] : [other, full];
}

// ---------------------------------------------------------------- layouts

/**
 * How a test tensor is laid out in memory. Every op must give the same answer for the same
 * logical values whatever the layout, so inputs are drawn in all of them:
 * - contiguous: row-major from element 0
 * - permuted:   a permute() of a row-major tensor of the permuted shape
 * - sliced:     a slice() out of a larger tensor whose other elements are NaN (a kernel that
 *               reads outside the view poisons its result)
 * - expanded:   one axis broadcast from size 1 with stride 0 (the values repeat along it)
 */
export type Layout = 'contiguous' | 'permuted' | 'sliced' | 'expanded';
export const LAYOUTS: Layout[] = ['contiguous', 'permuted', 'sliced', 'expanded'];

/**
 * A tensor holding exactly `a`'s values, laid out as `layout`, made with the public API only.
 * 'expanded' needs values that repeat along an axis: use randomInput for it (here it gives a
 * contiguous tensor).
 */
export function layoutTensor(a: Arr, layout: Layout, gen: Generator): Tensor {
  const shape = a.shape;
  const nd = shape.length;
  if (layout === 'permuted' && nd >= 2) {
    // base[b] holds a[l] with l[i] = b[perm[i]], so base.permute(perm) reads a
    let perm = gen.permutation(nd);
    if (perm.every((p, i) => p === i)) perm = perm.reverse();
    const baseShape = new Array(nd);
    perm.forEach((p, i) => (baseShape[p] = shape[i]));
    const base = build(baseShape, (b) => at(a, perm.map((p) => b[p])));
    return tensor(base.data, baseShape).permute(perm);
  }
  if (layout === 'sliced' && nd >= 1) {
    const axis = gen.randint(nd);
    const before = randomInt(gen, 1, 2);
    const after = randomInt(gen, 0, 2);
    const baseShape = shape.slice();
    baseShape[axis] += before + after;
    const base = build(baseShape, (b) => {
      const i = b[axis] - before;
      if (i < 0 || i >= shape[axis]) return NaN;
      const l = b.slice();
      l[axis] = i;
      return at(a, l);
    });
    return tensor(base.data, baseShape).slice(axis, before, before + shape[axis]);
  }
  return tensor(a.data, shape);
}

/**
 * Random values for `shape` in `layout`. For 'expanded' the values repeat along one axis of
 * size > 1 (drawn as size 1 and broadcast), so the tensor really is a stride-0 view.
 * `draw` makes the values of a given shape (default: uniform in [-1, 1)).
 */
export function randomInput(gen: Generator, shape: Shape, layout: Layout, draw: (s: Shape) => Arr = (s) => randomArr(gen, s)): { t: Tensor; ref: Arr } {
  if (layout === 'expanded') {
    const candidates = shape.map((s, d) => d).filter((d) => shape[d] > 1);
    if (candidates.length) {
      const axis = candidates[gen.randint(candidates.length)];
      const small = shape.slice();
      small[axis] = 1;
      const base = draw(small);
      const ref = refExpand(base, shape);
      return { t: tensor(base.data, small).expand(shape), ref };
    }
  }
  const ref = draw(shape);
  return { t: layoutTensor(ref, layout, gen), ref };
}

// ---------------------------------------------------------------- comparison

/**
 * Expect |actual - expected| <= atol + rtol * |expected| elementwise (NaN matches NaN, and
 * infinities must match exactly). The message names the first mismatch and its values.
 */
export function expectClose(actual: ArrayLike<number> | number, expected: ArrayLike<number> | number, rtol: number, atol: number, what: string): void {
  const a = typeof actual === 'number' ? [actual] : Array.from(actual);
  const e = typeof expected === 'number' ? [expected] : Array.from(expected);
  if (a.length !== e.length) expect.fail(`${what}: ${a.length} values, expected ${e.length}`);
  let bad = 0;
  let first = -1;
  for (let i = 0; i < e.length; i++) {
    const ok = Number.isNaN(e[i]) ? Number.isNaN(a[i]) : !Number.isFinite(e[i]) ? a[i] === e[i] : Math.abs(a[i] - e[i]) <= atol + rtol * Math.abs(e[i]);
    if (!ok) {
      bad++;
      if (first < 0) first = i;
    }
  }
  if (bad) {
    const d = Math.abs(a[first] - e[first]);
    expect.fail(
      `${what}: ${bad} of ${e.length} values differ; first at index ${first}: got ${a[first]}, expected ${e[first]} ` +
        `(|diff| ${d.toPrecision(3)} > atol ${atol} + rtol ${rtol} * |expected|)`,
    );
  }
}

/** Shape must match exactly, values within tolerance. */
export function expectTensor(t: Tensor, expected: Arr, rtol: number, atol: number, what: string): void {
  expect(t.shape, `${what}: shape`).to.deep.equal(expected.shape);
  expectClose(t.toArray(), expected.data, rtol, atol, what);
}

export function maxAbs(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]));
  return m;
}

// ---------------------------------------------------------------- views

export function refPermute(a: Arr, axes: number[]): Arr {
  return build(
    axes.map((p) => a.shape[p]),
    (o) => {
      const src = new Array(axes.length);
      axes.forEach((p, i) => (src[p] = o[i]));
      return at(a, src);
    },
  );
}

export function refSlice(a: Arr, axis: number, start: number, end: number): Arr {
  const shape = a.shape.slice();
  shape[axis] = end - start;
  return build(shape, (o) => {
    const src = o.slice();
    src[axis] += start;
    return at(a, src);
  });
}

/** NumPy broadcasting of a to `shape` (leading dims added, size-1 dims repeated). */
export function refExpand(a: Arr, shape: Shape): Arr {
  const lead = shape.length - a.shape.length;
  return build(shape, (o) => at(a, a.shape.map((s, d) => (s === 1 ? 0 : o[d + lead]))));
}

export function refConcat(parts: Arr[], axis: number): Arr {
  const shape = parts[0].shape.slice();
  shape[axis] = parts.reduce((s, p) => s + p.shape[axis], 0);
  return build(shape, (o) => {
    let i = o[axis];
    for (const p of parts) {
      if (i < p.shape[axis]) {
        const src = o.slice();
        src[axis] = i;
        return at(p, src);
      }
      i -= p.shape[axis];
    }
    throw new Error('unreachable');
  });
}

// ---------------------------------------------------------------- elementwise

export function broadcastShape(a: Shape, b: Shape): Shape {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`reference: [${a}] and [${b}] do not broadcast`);
    return da === 1 ? db : da;
  });
}

export function refUnary(a: Arr, f: (x: number) => number): Arr {
  return { data: a.data.map(f), shape: a.shape.slice() };
}

export function refBinary(a: Arr, b: Arr, f: (x: number, y: number) => number): Arr {
  const shape = broadcastShape(a.shape, b.shape);
  const ea = refExpand(a, shape);
  const eb = refExpand(b, shape);
  return { data: ea.data.map((x, i) => f(x, eb.data[i])), shape };
}

/** erf by its Maclaurin series (fine in float64 for |x| <= 4), independent of the library's approximation. */
export function erfSeries(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

// ---------------------------------------------------------------- reductions

/**
 * Reduce `a` over `axes` (undefined = all; negative allowed): f gets the values of one output
 * position in row-major order of the reduced axes.
 */
export function refReduce(a: Arr, axes: number | number[] | undefined, keepdim: boolean, f: (vals: number[]) => number): Arr {
  const nd = a.shape.length;
  const list = axes === undefined ? a.shape.map((_, d) => d) : (Array.isArray(axes) ? axes : [axes]).map((d) => (d < 0 ? d + nd : d));
  const keptShape = a.shape.map((s, d) => (list.includes(d) ? 1 : s));
  const groups: number[][] = Array.from({ length: sizeOf(keptShape) }, () => []);
  for (let i = 0; i < a.data.length; i++) {
    const idx = unravel(i, a.shape);
    groups[ravel(idx.map((v, d) => (list.includes(d) ? 0 : v)), keptShape)].push(a.data[i]);
  }
  const shape = keepdim ? keptShape : a.shape.filter((_, d) => !list.includes(d));
  return { data: groups.map(f), shape };
}

export const R = {
  sum: (v: number[]) => v.reduce((s, x) => s + x, 0),
  mean: (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length,
  max: (v: number[]) => v.reduce((m, x) => (x > m ? x : m), -Infinity),
  min: (v: number[]) => v.reduce((m, x) => (x < m ? x : m), Infinity),
  /** variance with `correction` (0: population, 1: unbiased), two-pass */
  variance: (correction: number) => (v: number[]) => {
    const m = v.reduce((s, x) => s + x, 0) / v.length;
    return v.reduce((s, x) => s + (x - m) * (x - m), 0) / (v.length - correction);
  },
  /** index of the first largest value */
  argmax: (v: number[]) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0),
  argmin: (v: number[]) => v.reduce((best, x, i) => (x < v[best] ? i : best), 0),
};

/** Apply f to every 1-d lane of `a` along `axis` (the lane in order), writing the lane it returns. */
export function mapLanes(a: Arr, axis: number, f: (lane: number[]) => number[]): Arr {
  const ax = axis < 0 ? axis + a.shape.length : axis;
  const out = new Array(a.data.length);
  const st = rowMajorStrides(a.shape)[ax];
  const n = a.shape[ax];
  for (let i = 0; i < a.data.length; i++) {
    if (unravel(i, a.shape)[ax] !== 0) continue; // i is the start of a lane
    const lane = Array.from({ length: n }, (_, j) => a.data[i + j * st]);
    f(lane).forEach((v, j) => (out[i + j * st] = v));
  }
  return { data: out, shape: a.shape.slice() };
}

/** softmax_j = exp(x_j - max) / sum_k exp(x_k - max), in float64. */
export function refSoftmax(a: Arr, axis: number): Arr {
  return mapLanes(a, axis, (lane) => {
    const m = Math.max(...lane);
    const e = lane.map((x) => Math.exp(x - m));
    const s = e.reduce((p, x) => p + x, 0);
    return e.map((x) => x / s);
  });
}

/** log softmax_j = x_j - max - log sum_k exp(x_k - max). */
export function refLogSoftmax(a: Arr, axis: number): Arr {
  return mapLanes(a, axis, (lane) => {
    const m = Math.max(...lane);
    const lse = m + Math.log(lane.reduce((p, x) => p + Math.exp(x - m), 0));
    return lane.map((x) => x - lse);
  });
}

// ---------------------------------------------------------------- linear algebra and images

/** [..., m, k] x [..., k, n] with the batch dims broadcast; both operands at least 2-d. */
export function refMatmul(a: Arr, b: Arr): Arr {
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k !== k2) throw new Error('reference matmul: inner dims differ');
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const ea = refExpand(a, [...batch, m, k]);
  const eb = refExpand(b, [...batch, k, n]);
  return build([...batch, m, n], (o) => {
    const bi = o.slice(0, -2);
    const [i, j] = o.slice(-2);
    let s = 0;
    for (let q = 0; q < k; q++) s += at(ea, [...bi, i, q]) * at(eb, [...bi, q, j]);
    return s;
  });
}

/**
 * Cross-correlation, straight from the definition:
 *   y[n, co, oy, ox] = b[co] + sum_{ci, ky, kx} x[n, ci, oy*sH - pH + ky, ox*sW - pW + kx] w[co, ci, ky, kx]
 * with x = 0 outside the image.
 */
export function refConv2d(x: Arr, w: Arr, bias: Arr | null, stride: [number, number], pad: [number, number]): Arr {
  const [N, C, H, W] = x.shape;
  const [CO, , KH, KW] = w.shape;
  const OH = Math.floor((H + 2 * pad[0] - KH) / stride[0]) + 1;
  const OW = Math.floor((W + 2 * pad[1] - KW) / stride[1]) + 1;
  return build([N, CO, OH, OW], ([n, co, oy, ox]) => {
    let s = bias ? bias.data[co] : 0;
    for (let ci = 0; ci < C; ci++)
      for (let ky = 0; ky < KH; ky++)
        for (let kx = 0; kx < KW; kx++) {
          const iy = oy * stride[0] - pad[0] + ky;
          const ix = ox * stride[1] - pad[1] + kx;
          if (iy >= 0 && iy < H && ix >= 0 && ix < W) s += at(x, [n, ci, iy, ix]) * at(w, [co, ci, ky, kx]);
        }
    return s;
  });
}

export function refUpsampleNearest(x: Arr, scale: number): Arr {
  const [N, C, H, W] = x.shape;
  return build([N, C, H * scale, W * scale], ([n, c, i, j]) => at(x, [n, c, Math.floor(i / scale), Math.floor(j / scale)]));
}

/** Mean over k x k windows with stride k; trailing rows/columns that do not fill a window are dropped. */
export function refAvgPool(x: Arr, k: number): Arr {
  const [N, C, H, W] = x.shape;
  return build([N, C, Math.floor(H / k), Math.floor(W / k)], ([n, c, i, j]) => {
    let s = 0;
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) s += at(x, [n, c, i * k + a, j * k + b]);
    return s / (k * k);
  });
}

// ---------------------------------------------------------------- normalization

/** (x - mean) / sqrt(var + eps) over all of `vals`, var biased (divide by n). */
function normalizeGroup(vals: number[], eps: number): number[] {
  const m = vals.reduce((s, v) => s + v, 0) / vals.length;
  const v = vals.reduce((s, x) => s + (x - m) * (x - m), 0) / vals.length;
  return vals.map((x) => (x - m) / Math.sqrt(v + eps));
}

/** GroupNorm: statistics per (sample, group of C/G channels) over channels and positions; affine per channel. */
export function refGroupNorm(x: Arr, groups: number, weight: Arr | null, bias: Arr | null, eps = 1e-5): Arr {
  const [N, C] = x.shape;
  const perChannel = sizeOf(x.shape.slice(2));
  const cg = C / groups;
  const out = new Array(x.data.length);
  for (let n = 0; n < N; n++)
    for (let g = 0; g < groups; g++) {
      const idx: number[] = [];
      for (let c = g * cg; c < (g + 1) * cg; c++) for (let p = 0; p < perChannel; p++) idx.push((n * C + c) * perChannel + p);
      const y = normalizeGroup(idx.map((i) => x.data[i]), eps);
      idx.forEach((i, j) => {
        const c = Math.floor(i / perChannel) % C;
        out[i] = y[j] * (weight ? weight.data[c] : 1) + (bias ? bias.data[c] : 0);
      });
    }
  return { data: out, shape: x.shape.slice() };
}

/** LayerNorm over the trailing `k` dims; weight and bias have those dims' shape. */
export function refLayerNorm(x: Arr, k: number, weight: Arr | null, bias: Arr | null, eps = 1e-5): Arr {
  const inner = sizeOf(x.shape.slice(x.shape.length - k));
  const out = new Array(x.data.length);
  for (let r = 0; r < x.data.length / inner; r++) {
    const y = normalizeGroup(x.data.slice(r * inner, (r + 1) * inner), eps);
    y.forEach((v, j) => (out[r * inner + j] = v * (weight ? weight.data[j] : 1) + (bias ? bias.data[j] : 0)));
  }
  return { data: out, shape: x.shape.slice() };
}
