/**
 * Unit 3: ops (reductions). sum, mean, max, min, var (correction 0 and 1), argmax and argmin over
 * one axis, several axes, all axes and negative axes, with and without keepdim, on inputs in
 * every memory layout; forward against plain loops, backward against gradCheck and closed
 * forms (max and min share the gradient among ties).
 */
import { expect } from 'chai';
import { tensor, zeros } from '../src/creation';
import { gradCheck } from '../src/gradcheck';
import { Generator } from '../src/random';
import type { Tensor } from '../src/tensor';
import { forEachBackend } from './helpers/backends';
import { LAYOUTS, build, distinctArr, expectClose, expectTensor, randomInput, randomShape, refReduce, R } from './helpers/reference';

type Axes = number | number[] | undefined;

interface ReduceCase {
  name: string;
  apply: (t: Tensor, axes: Axes, keepdim: boolean) => Tensor;
  ref: (vals: number[]) => number;
  /** fewest elements per reduction the op accepts */
  minCount: number;
}

const REDUCTIONS: ReduceCase[] = [
  { name: 'sum', apply: (t, a, k) => t.sum(a, k), ref: R.sum, minCount: 1 },
  { name: 'mean', apply: (t, a, k) => t.mean(a, k), ref: R.mean, minCount: 1 },
  { name: 'max', apply: (t, a, k) => t.max(a, k), ref: R.max, minCount: 1 },
  { name: 'min', apply: (t, a, k) => t.min(a, k), ref: R.min, minCount: 1 },
  { name: 'var (correction 1)', apply: (t, a, k) => t.var(a, k), ref: R.variance(1), minCount: 2 },
  { name: 'var (correction 0)', apply: (t, a, k) => t.var(a, k, 0), ref: R.variance(0), minCount: 1 },
];

/** A random non-empty set of axes of an nd-dim tensor, some written negative; undefined (all) now and then. */
function randomAxes(gen: Generator, nd: number): Axes {
  const r = gen.uniform();
  if (r < 0.15) return undefined;
  const chosen = gen.permutation(nd).slice(0, 1 + gen.randint(nd));
  const written = chosen.map((d) => (gen.uniform() < 0.4 ? d - nd : d));
  return r < 0.5 ? written[0] : written;
}

function count(shape: number[], axes: Axes): number {
  const nd = shape.length;
  const list = axes === undefined ? shape.map((_, d) => d) : (Array.isArray(axes) ? axes : [axes]).map((d) => (d + nd) % nd);
  return list.reduce((p, d) => p * shape[d], 1);
}

/** The tolerance a reduction of n terms of size ~1 needs: rtol per term, summed. */
const atolFor = (rtol: number, n: number) => rtol * Math.max(1, n);

forEachBackend('[unit 3: ops] reductions: forward', (bc) => {
  REDUCTIONS.forEach((op, k) => {
    it(`${op.name}: random axes (negative, several, all), keepdim on and off, every layout`, () => {
      const gen = new Generator(700 + k);
      for (let c = 0; c < 16; c++) {
        const shape = randomShape(gen, 1, 4, 4);
        const axes = randomAxes(gen, shape.length);
        if (count(shape, axes) < op.minCount) continue;
        const keepdim = gen.uniform() < 0.5;
        const layout = LAYOUTS[c % LAYOUTS.length];
        const { t, ref } = randomInput(gen, shape, layout);
        const want = refReduce(ref, axes, keepdim, op.ref);
        const what = `${op.name}([${shape}] ${layout}, axes ${JSON.stringify(axes)}, keepdim ${keepdim})`;
        expectTensor(op.apply(t, axes, keepdim), want, bc.rtol, atolFor(bc.rtol, count(shape, axes)), what);
      }
    });
  });

  it('each single axis of a fixed [2, 3, 4] tensor, in both signs, on a permuted view', () => {
    const gen = new Generator(720);
    const { t, ref } = randomInput(gen, [2, 3, 4], 'permuted');
    for (const op of REDUCTIONS) {
      for (let d = 0; d < 3; d++) {
        for (const axis of [d, d - 3]) {
          for (const keepdim of [false, true]) {
            expectTensor(op.apply(t, axis, keepdim), refReduce(ref, axis, keepdim, op.ref), bc.rtol, 4 * bc.rtol, `${op.name}(axis ${axis}, keepdim ${keepdim})`);
          }
        }
      }
      expectTensor(op.apply(t, undefined, false), refReduce(ref, undefined, false, op.ref), bc.rtol, 24 * bc.rtol, `${op.name}() over all`);
      expect(op.apply(t, undefined, true).shape).to.deep.equal([1, 1, 1]);
      expect(op.apply(t, [0, 2], true).shape).to.deep.equal([1, 3, 1]);
      expect(op.apply(t, [-1, 0], false).shape).to.deep.equal([3]);
    }
  });

  it('sum and mean of known values (closed form)', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.sum().item()).to.equal(21);
    expect(Array.from(t.sum(0).toArray())).to.deep.equal([5, 7, 9]);
    expect(Array.from(t.sum(-1).toArray())).to.deep.equal([6, 15]);
    expect(t.mean().item()).to.equal(3.5);
    expect(t.sum(1, true).shape).to.deep.equal([2, 1]);
    // var of 1..6: mean 3.5, sum of squares 17.5
    expectClose(t.var().item(), 3.5, bc.rtol, 0, 'var, correction 1');
    expectClose(t.var(undefined, false, 0).item(), 17.5 / 6, bc.rtol, 0, 'var, correction 0');
    expectClose(t.var(1).toArray(), [1, 1], bc.rtol, 0, 'var over rows');
  });

  it('sum over an empty axis is 0; max over one is an error', () => {
    const e = zeros([2, 0, 3]);
    expectTensor(e.sum(1), { data: [0, 0, 0, 0, 0, 0], shape: [2, 3] }, 0, 0, 'sum over a size-0 axis');
    expect(() => e.max(1)).to.throw('max: cannot reduce an empty axis of a tensor of shape [2,0,3]');
  });

  it('argmax and argmin along one axis or over the flattened tensor, first index on ties', () => {
    const gen = new Generator(730);
    for (let c = 0; c < 12; c++) {
      const shape = randomShape(gen, 1, 4, 4);
      const nd = shape.length;
      const layout = LAYOUTS[c % LAYOUTS.length];
      // small integers, so that ties are common
      const { t, ref } = randomInput(gen, shape, layout, (s) => build(s, () => gen.randint(3)));
      const axis = gen.randint(nd) - (gen.uniform() < 0.5 ? nd : 0);
      const keepdim = gen.uniform() < 0.5;
      for (const [name, f] of [['argmax', R.argmax], ['argmin', R.argmin]] as const) {
        const got = name === 'argmax' ? t.argmax(axis, keepdim) : t.argmin(axis, keepdim);
        expectTensor(got, refReduce(ref, axis, keepdim, f), 0, 0, `${name}([${shape}] ${layout}, axis ${axis}, keepdim ${keepdim})`);
        const flat = name === 'argmax' ? t.argmax() : t.argmin();
        expectTensor(flat, { data: [f(ref.data)], shape: [] }, 0, 0, `${name}() of [${shape}] ${layout}`);
      }
    }
    const x = tensor([[3, 7, 7], [-1, -1, 0]], undefined, { requiresGrad: true });
    expect(Array.from(x.argmax(1).toArray())).to.deep.equal([1, 2]);
    expect(Array.from(x.argmin(1).toArray())).to.deep.equal([0, 0]);
    expect(x.argmax().item()).to.equal(1);
    expect(x.argmin(0, true).shape).to.deep.equal([1, 3]);
    expect(x.argmax(1).requiresGrad, 'indices have no gradient').to.equal(false);
  });

  it('errors name the op, the axis and the shape', () => {
    const t = zeros([2, 3]);
    expect(() => t.sum(2)).to.throw('sum: axis 2 is out of range for a 2-d tensor');
    expect(() => t.mean(-3)).to.throw('mean: axis -3 is out of range for a 2-d tensor');
    expect(() => t.max([0, -2])).to.throw('max: repeated axis in [0,-2]');
    expect(() => t.argmin(5)).to.throw('argmin: axis 5 is out of range for a 2-d tensor');
    expect(() => t.var(0, false, 2)).to.throw('var: 2 element(s) per reduction are too few for correction 2');
    expect(() => tensor([[1], [2]]).var(1)).to.throw('var: 1 element(s) per reduction are too few for correction 1');
  });
});

forEachBackend('[unit 3: ops] reductions: backward', () => {
  const gradCases: [string, (t: Tensor) => Tensor][] = [
    ['sum()', (t) => t.sum()],
    ['sum(1)', (t) => t.sum(1)],
    ['sum([0, 2], keepdim)', (t) => t.sum([0, 2], true)],
    ['mean(-1)', (t) => t.mean(-1)],
    ['mean([0, 1])', (t) => t.mean([0, 1])],
    ['var()', (t) => t.var()],
    ['var(1, keepdim, correction 0)', (t) => t.var(1, true, 0)],
    ['var([0, 2])', (t) => t.var([0, 2])],
    ['max()', (t) => t.max()],
    ['max(0)', (t) => t.max(0)],
    ['min(-1, keepdim)', (t) => t.min(-1, true)],
    ['max([1, 2])', (t) => t.max([1, 2])],
    ['min([0, 2])', (t) => t.min([0, 2])],
  ];

  it('sum, mean, var, max and min over various axes match central differences', () => {
    const gen = new Generator(740);
    // distinct values 0.05 apart: max/min have no ties or kinks within the finite-difference step
    const x = distinctArr(gen, [2, 3, 4], 0.05);
    for (const [name, f] of gradCases) {
      for (const [how, g] of [['contiguous', f], ['permuted', (t: Tensor) => f(t.permute(2, 0, 1).contiguous().permute(1, 2, 0))]] as const) {
        const r = gradCheck(g, [tensor(x.data, x.shape)]);
        expect(r.ok, `${name} (${how}): worst ${JSON.stringify(r.worst)}`).to.equal(true);
      }
    }
    // a permuted view as the reduction's input (non-contiguous inside the graph)
    const r = gradCheck((t) => t.transpose(0, 2).var(1).mul(t.permute(1, 2, 0).max(-1).sum()), [tensor(x.data, x.shape)]);
    expect(r.ok, JSON.stringify(r.worst)).to.equal(true);
  });

  it('closed forms: d sum = 1, d mean = 1/n, d var = 2 (x - mean) / (n - correction)', () => {
    const xs = [1, 2, 4, 7];
    const m = 3.5;
    for (const [name, f, want] of [
      ['sum', (t: Tensor) => t.sum(), xs.map(() => 1)],
      ['mean', (t: Tensor) => t.mean(), xs.map(() => 0.25)],
      ['var', (t: Tensor) => t.var(), xs.map((v) => (2 * (v - m)) / 3)],
      ['var, correction 0', (t: Tensor) => t.var(undefined, false, 0), xs.map((v) => (2 * (v - m)) / 4)],
    ] as [string, (t: Tensor) => Tensor, number[]][]) {
      const x = tensor(xs, undefined, { requiresGrad: true });
      f(x).backward();
      expectClose(x.grad!.toArray(), want, 1e-6, 1e-6, name);
    }
  });

  it('max and min share the gradient equally among ties', () => {
    const x = tensor([[1, 3, 3], [2, 2, 2], [5, 0, 4]], undefined, { requiresGrad: true });
    x.max(1).mul(tensor([1, 3, 2])).sum().backward();
    expectClose(x.grad!.toArray(), [0, 0.5, 0.5, 1, 1, 1, 2, 0, 0], 1e-6, 1e-6, 'max(1) with ties');
    const y = tensor([[1, 3, 3], [2, 2, 2], [5, 0, 4]], undefined, { requiresGrad: true });
    y.max().backward();
    expectClose(y.grad!.toArray(), [0, 0, 0, 0, 0, 0, 1, 0, 0], 0, 0, 'max() single winner');
    const z = tensor([[1, 3, 3], [2, 2, 2], [5, 0, 4]], undefined, { requiresGrad: true });
    z.min(0, true).sum().backward();
    expectClose(z.grad!.toArray(), [1, 0, 0, 0, 0, 1, 0, 1, 0], 0, 0, 'min(0)');
    const w = tensor([[2, 2], [2, 2]], undefined, { requiresGrad: true });
    w.min().backward();
    expectClose(w.grad!.toArray(), [0.25, 0.25, 0.25, 0.25], 0, 0, 'min() of four ties');
  });
});
