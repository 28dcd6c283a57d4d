/**
 * Unit 3: ops (elementwise ops and broadcasting). Every unary and binary op, forward against a
 * plain loop over float64 numbers on random shapes, broadcast pairs and every memory layout
 * (contiguous, permuted, sliced, expanded); backward against central differences (gradCheck)
 * with inputs kept away from kinks (0 for abs and relu, ties for maximum and minimum).
 */
import { expect } from 'chai';
import { tensor } from '../src/creation';
import { gradCheck } from '../src/gradcheck';
import { where } from '../src/ops';
import { Generator } from '../src/random';
import type { Tensor } from '../src/tensor';
import { BackendCase, forEachBackend } from './helpers/backends';
import {
  Arr, LAYOUTS, Shape, awayFromZero, broadcastShape, build, erfSeries, expectClose, expectTensor, randomArr, randomBroadcastPair, randomInput, randomShape, refBinary, refExpand, refUnary,
} from './helpers/reference';

type Draw = (gen: Generator, shape: Shape) => Arr;
const uniform = (lo: number, hi: number): Draw => (gen, shape) => randomArr(gen, shape, lo, hi);
const avoidZero: Draw = (gen, shape) => awayFromZero(gen, shape, 0.2, 2);
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

interface UnaryCase {
  name: string;
  apply: (t: Tensor) => Tensor;
  ref: (x: number) => number;
  draw: Draw;
}

const UNARY: UnaryCase[] = [
  { name: 'neg', apply: (t) => t.neg(), ref: (x) => -x, draw: uniform(-2, 2) },
  { name: 'exp', apply: (t) => t.exp(), ref: Math.exp, draw: uniform(-3, 3) },
  { name: 'log', apply: (t) => t.log(), ref: Math.log, draw: uniform(0.2, 4) },
  { name: 'sqrt', apply: (t) => t.sqrt(), ref: Math.sqrt, draw: uniform(0.2, 4) },
  { name: 'rsqrt', apply: (t) => t.rsqrt(), ref: (x) => 1 / Math.sqrt(x), draw: uniform(0.2, 4) },
  { name: 'abs', apply: (t) => t.abs(), ref: Math.abs, draw: avoidZero },
  { name: 'square', apply: (t) => t.square(), ref: (x) => x * x, draw: uniform(-2, 2) },
  { name: 'sin', apply: (t) => t.sin(), ref: Math.sin, draw: uniform(-4, 4) },
  { name: 'cos', apply: (t) => t.cos(), ref: Math.cos, draw: uniform(-4, 4) },
  { name: 'relu', apply: (t) => t.relu(), ref: (x) => Math.max(x, 0), draw: avoidZero },
  { name: 'sigmoid', apply: (t) => t.sigmoid(), ref: sigmoid, draw: uniform(-6, 6) },
  { name: 'tanh', apply: (t) => t.tanh(), ref: Math.tanh, draw: uniform(-3, 3) },
  { name: 'silu', apply: (t) => t.silu(), ref: (x) => x * sigmoid(x), draw: uniform(-5, 5) },
  { name: 'gelu', apply: (t) => t.gelu(), ref: (x) => 0.5 * x * (1 + erfSeries(x / Math.SQRT2)), draw: uniform(-4, 4) },
  // scalar variants
  { name: 'add(2)', apply: (t) => t.add(2), ref: (x) => x + 2, draw: uniform(-2, 2) },
  { name: 'sub(0.5)', apply: (t) => t.sub(0.5), ref: (x) => x - 0.5, draw: uniform(-2, 2) },
  { name: 'mul(-3)', apply: (t) => t.mul(-3), ref: (x) => -3 * x, draw: uniform(-2, 2) },
  { name: 'div(4)', apply: (t) => t.div(4), ref: (x) => x / 4, draw: uniform(-2, 2) },
  { name: 'pow(2)', apply: (t) => t.pow(2), ref: (x) => x * x, draw: uniform(-2, 2) },
  { name: 'pow(3)', apply: (t) => t.pow(3), ref: (x) => x * x * x, draw: uniform(-2, 2) },
  { name: 'pow(0.5)', apply: (t) => t.pow(0.5), ref: Math.sqrt, draw: uniform(0.2, 4) },
  { name: 'pow(-1.5)', apply: (t) => t.pow(-1.5), ref: (x) => x ** -1.5, draw: uniform(0.5, 3) },
  // clamp: the draw keeps x at least 0.05 from the bounds, so the finite differences see no kink
  { name: 'clamp(-0.5, 0.5)', apply: (t) => t.clamp(-0.5, 0.5), ref: (x) => Math.min(Math.max(x, -0.5), 0.5), draw: (gen, s) => awayFrom(gen, s, [-0.5, 0.5]) },
  { name: 'clamp(0.25)', apply: (t) => t.clamp(0.25), ref: (x) => Math.max(x, 0.25), draw: (gen, s) => awayFrom(gen, s, [0.25]) },
  { name: 'clamp(-inf, -0.3)', apply: (t) => t.clamp(-Infinity, -0.3), ref: (x) => Math.min(x, -0.3), draw: (gen, s) => awayFrom(gen, s, [-0.3]) },
];

/** Uniform in [-1.5, 1.5) but at least 0.05 from each of `points`. */
function awayFrom(gen: Generator, shape: Shape, points: number[]): Arr {
  return build(shape, () => {
    for (;;) {
      const x = Math.fround(-1.5 + 3 * gen.uniform());
      if (points.every((p) => Math.abs(x - p) >= 0.05)) return x;
    }
  });
}

interface BinaryCase {
  name: string;
  apply: (a: Tensor, b: Tensor) => Tensor;
  ref: (x: number, y: number) => number;
  drawA: Draw;
  drawB: Draw;
}

const BINARY: BinaryCase[] = [
  { name: 'add', apply: (a, b) => a.add(b), ref: (x, y) => x + y, drawA: uniform(-2, 2), drawB: uniform(-2, 2) },
  { name: 'sub', apply: (a, b) => a.sub(b), ref: (x, y) => x - y, drawA: uniform(-2, 2), drawB: uniform(-2, 2) },
  { name: 'mul', apply: (a, b) => a.mul(b), ref: (x, y) => x * y, drawA: uniform(-2, 2), drawB: uniform(-2, 2) },
  { name: 'div', apply: (a, b) => a.div(b), ref: (x, y) => x / y, drawA: uniform(-2, 2), drawB: (gen, s) => awayFromZero(gen, s, 0.5, 2) },
  { name: 'pow', apply: (a, b) => a.pow(b), ref: Math.pow, drawA: uniform(0.5, 2), drawB: uniform(-2, 2) },
  { name: 'maximum', apply: (a, b) => a.maximum(b), ref: Math.max, drawA: uniform(-2, 2), drawB: uniform(-2, 2) },
  { name: 'minimum', apply: (a, b) => a.minimum(b), ref: Math.min, drawA: uniform(-2, 2), drawB: uniform(-2, 2) },
];

/** Small integers, so that comparisons meet ties. */
const smallInts: Draw = (gen, shape) => build(shape, () => gen.randint(3) - 1);

const COMPARISONS: BinaryCase[] = [
  { name: 'eq', apply: (a, b) => a.eq(b), ref: (x, y) => +(x === y), drawA: smallInts, drawB: smallInts },
  { name: 'ne', apply: (a, b) => a.ne(b), ref: (x, y) => +(x !== y), drawA: smallInts, drawB: smallInts },
  { name: 'lt', apply: (a, b) => a.lt(b), ref: (x, y) => +(x < y), drawA: smallInts, drawB: smallInts },
  { name: 'le', apply: (a, b) => a.le(b), ref: (x, y) => +(x <= y), drawA: smallInts, drawB: smallInts },
  { name: 'gt', apply: (a, b) => a.gt(b), ref: (x, y) => +(x > y), drawA: smallInts, drawB: smallInts },
  { name: 'ge', apply: (a, b) => a.ge(b), ref: (x, y) => +(x >= y), drawA: smallInts, drawB: smallInts },
];

const pick = <T>(gen: Generator, xs: T[]): T => xs[gen.randint(xs.length)];

/** Random broadcast pairs in random layouts, forward vs refBinary. */
function checkBinaryForward(bc: BackendCase, op: BinaryCase, seed: number, cases = 6) {
  const gen = new Generator(seed);
  for (let c = 0; c < cases; c++) {
    const [sa, sb] = randomBroadcastPair(gen, 1, 4, 4);
    const la = pick(gen, LAYOUTS);
    const lb = pick(gen, LAYOUTS);
    const A = randomInput(gen, sa, la, (s) => op.drawA(gen, s));
    const B = randomInput(gen, sb, lb, (s) => op.drawB(gen, s));
    const want = refBinary(A.ref, B.ref, op.ref);
    expectTensor(op.apply(A.t, B.t), want, bc.rtol, bc.rtol, `${op.name}: [${sa}] (${la}) with [${sb}] (${lb})`);
  }
}

/** Shape pairs for the gradient checks: same shape, trailing broadcast, both sides broadcast, a 0-d operand. */
const GRAD_PAIRS: [Shape, Shape][] = [
  [[2, 3], [2, 3]],
  [[2, 3], [3]],
  [[3, 1, 2], [4, 1]],
  [[], [2, 2]],
];

forEachBackend('[unit 3: ops] elementwise: unary ops', (bc) => {
  UNARY.forEach((op, k) => {
    it(`${op.name}: forward matches the loop reference in every layout`, () => {
      const gen = new Generator(100 + k);
      for (const layout of LAYOUTS) {
        for (let c = 0; c < 2; c++) {
          const shape = randomShape(gen, 1, 4, 4);
          const { t, ref } = randomInput(gen, shape, layout, (s) => op.draw(gen, s));
          expectTensor(op.apply(t), refUnary(ref, op.ref), bc.rtol, bc.rtol, `${op.name} of a ${layout} [${shape}]`);
        }
      }
    });

    it(`${op.name}: backward matches central differences`, () => {
      const gen = new Generator(200 + k);
      const x = op.draw(gen, [3, 4]);
      const t = tensor(x.data, x.shape);
      for (const [how, f] of [['contiguous', op.apply], ['transposed', (u: Tensor) => op.apply(u.transpose())]] as const) {
        const r = gradCheck(f, [t]);
        expect(r.ok, `${op.name} (${how}): worst ${JSON.stringify(r.worst)}`).to.equal(true);
      }
    });
  });

  it('abs and relu have derivative 0 at 0; clamp passes the gradient at its bounds', () => {
    const x = tensor([0, -0.5, 0.5], undefined, { requiresGrad: true });
    x.abs().sum().backward();
    expectClose(x.grad!.toArray(), [0, -1, 1], 0, 0, 'abs');
    const y = tensor([0, -0.5, 0.5], undefined, { requiresGrad: true });
    y.relu().sum().backward();
    expectClose(y.grad!.toArray(), [0, 0, 1], 0, 0, 'relu');
    const z = tensor([-1, -0.5, 0, 0.5, 1], undefined, { requiresGrad: true });
    z.clamp(-0.5, 0.5).sum().backward();
    expectClose(z.grad!.toArray(), [0, 1, 1, 1, 0], 0, 0, 'clamp');
    expect(() => z.clamp(1, 0)).to.throw('clamp: min 1 is greater than max 0');
  });

  it('sigmoid, tanh and exp stay finite and exact for large inputs', () => {
    // (tiny results may be flushed to 0 by a GPU: atol 1e-30)
    const x = tensor([-80, -30, 30, 80]);
    expectClose(x.sigmoid().toArray(), [sigmoid(-80), sigmoid(-30), 1, 1], bc.rtol, 1e-30, 'sigmoid');
    expectClose(x.tanh().toArray(), [-1, -1, 1, 1], bc.rtol, 0, 'tanh');
    expectClose(x.silu().toArray(), [-80 * sigmoid(-80), -30 * sigmoid(-30), 30, 80], bc.rtol, 1e-30, 'silu');
    expectClose(tensor([-200, 0, 80]).exp().toArray(), [0, 1, Math.fround(Math.exp(80))], bc.rtol, 0, 'exp');
  });
});

forEachBackend('[unit 3: ops] elementwise: binary ops and broadcasting', (bc) => {
  BINARY.forEach((op, k) => {
    it(`${op.name}: forward matches the loop reference on broadcast pairs in every layout`, () => {
      checkBinaryForward(bc, op, 300 + k);
    });

    it(`${op.name}: backward matches central differences, with broadcast inputs`, () => {
      const gen = new Generator(400 + k);
      for (const [sa, sb] of GRAD_PAIRS) {
        let a = op.drawA(gen, sa);
        let b = op.drawB(gen, sb);
        if (op.name === 'maximum' || op.name === 'minimum') [a, b] = separated(gen, sa, sb);
        const r = gradCheck(op.apply, [tensor(a.data, sa), tensor(b.data, sb)]);
        expect(r.ok, `${op.name} [${sa}] with [${sb}]: worst ${JSON.stringify(r.worst)}`).to.equal(true);
      }
      // and through a permuted view of the first input
      const a = op.drawA(gen, [3, 2]);
      const b = op.drawB(gen, [3]);
      const r = gradCheck((p, q) => op.apply(p.transpose(), q), [tensor(a.data, [3, 2]), tensor(b.data, [3])]);
      expect(r.ok, `${op.name} of a transposed view: worst ${JSON.stringify(r.worst)}`).to.equal(true);
    });
  });

  it('broadcasting a [3] row over [2, 3] sums the gradient over the rows (closed form)', () => {
    const a = tensor([[1, 2, 3], [4, 5, 6]], undefined, { requiresGrad: true });
    const b = tensor([10, 20, 30], undefined, { requiresGrad: true });
    a.mul(b).sum().backward();
    expectClose(b.grad!.toArray(), [5, 7, 9], bc.rtol, 0, 'd/db = column sums of a');
    expectClose(a.grad!.toArray(), [10, 20, 30, 10, 20, 30], bc.rtol, 0, 'd/da = b in every row');
  });

  it('pow: both derivatives follow the closed forms b a^(b-1) and a^b ln a', () => {
    const av = [0.5, 1.5, 2];
    const bv = [3, -1, 0.5];
    const a = tensor(av, undefined, { requiresGrad: true });
    const b = tensor(bv, undefined, { requiresGrad: true });
    a.pow(b).sum().backward();
    expectClose(a.grad!.toArray(), av.map((x, i) => bv[i] * x ** (bv[i] - 1)), bc.rtol, bc.rtol, 'd/da');
    expectClose(b.grad!.toArray(), av.map((x, i) => x ** bv[i] * Math.log(x)), bc.rtol, bc.rtol, 'd/db');
  });

  it('maximum and minimum send the gradient of a tie to the first input', () => {
    const a = tensor([1, 2, 5], undefined, { requiresGrad: true });
    const b = tensor([1, 3, 4], undefined, { requiresGrad: true });
    a.maximum(b).sum().backward();
    expectClose(a.grad!.toArray(), [1, 0, 1], 0, 0, 'maximum da');
    expectClose(b.grad!.toArray(), [0, 1, 0], 0, 0, 'maximum db');
    a.zeroGrad();
    b.zeroGrad();
    a.minimum(b).sum().backward();
    expectClose(a.grad!.toArray(), [1, 1, 0], 0, 0, 'minimum da');
    expectClose(b.grad!.toArray(), [0, 0, 1], 0, 0, 'minimum db');
  });
});

/** Values of a and b on the interleaved grids 0.2 k and 0.2 k + 0.1: every a - b is at least 0.1 from 0. */
function separated(gen: Generator, sa: Shape, sb: Shape): [Arr, Arr] {
  const grid = (shape: Shape, shift: number) => build(shape, () => Math.fround(0.2 * (gen.randint(15) - 7) + shift));
  return [grid(sa, 0), grid(sb, 0.1)];
}

forEachBackend('[unit 3: ops] elementwise: comparisons and where', (bc) => {
  COMPARISONS.forEach((op, k) => {
    it(`${op.name}: exact 0/1 masks on broadcast pairs with ties, in every layout`, () => {
      const gen = new Generator(500 + k);
      for (let c = 0; c < 6; c++) {
        const [sa, sb] = randomBroadcastPair(gen, 1, 4, 4);
        const A = randomInput(gen, sa, pick(gen, LAYOUTS), (s) => op.drawA(gen, s));
        const B = randomInput(gen, sb, pick(gen, LAYOUTS), (s) => op.drawB(gen, s));
        expectTensor(op.apply(A.t, B.t), refBinary(A.ref, B.ref, op.ref), 0, 0, `${op.name} [${sa}] with [${sb}]`);
      }
    });
  });

  it('compare with a plain number, and never record a gradient', () => {
    const x = tensor([-1, 0, 0.5, 2], undefined, { requiresGrad: true });
    expect(Array.from(x.gt(0).toArray())).to.deep.equal([0, 0, 1, 1]);
    expect(Array.from(x.le(0.5).toArray())).to.deep.equal([1, 1, 1, 0]);
    expect(Array.from(x.eq(2).toArray())).to.deep.equal([0, 0, 0, 1]);
    expect(Array.from(x.ne(0).toArray())).to.deep.equal([1, 0, 1, 1]);
    const m = x.ge(0);
    expect(m.requiresGrad).to.equal(false);
    expect(m.gradFn).to.equal(null);
  });

  it('where(cond, a, b) broadcasts all three, in every layout', () => {
    const gen = new Generator(600);
    for (let c = 0; c < 8; c++) {
      const [s1, s2] = randomBroadcastPair(gen, 1, 3, 3);
      const s3 = gen.uniform() < 0.5 ? s2.slice(-1) : s1;
      const C = randomInput(gen, s1, pick(gen, LAYOUTS), (s) => smallInts(gen, s));
      const A = randomInput(gen, s2, pick(gen, LAYOUTS));
      const B = randomInput(gen, s3, pick(gen, LAYOUTS));
      const shape = broadcastShape(broadcastShape(s1, s2), s3);
      const [ec, ea, eb] = [C.ref, A.ref, B.ref].map((r) => refExpand(r, shape));
      const want = { data: ec.data.map((cv, i) => (cv !== 0 ? ea.data[i] : eb.data[i])), shape };
      expectTensor(where(C.t, A.t, B.t), want, 0, 0, `where [${s1}], [${s2}], [${s3}]`);
    }
    const cond = tensor([1, 0, -2, 0]);
    expect(Array.from(where(cond, 5, tensor([1, 2, 3, 4])).toArray())).to.deep.equal([5, 2, 5, 4]);
    expect(Array.from(where(cond, tensor([1, 2, 3, 4]), -1).toArray())).to.deep.equal([1, -1, 3, -1]);
  });

  it('where sends the gradient to a where cond holds and to b elsewhere, summed over broadcasting', () => {
    const cond = tensor([[1, 0, 1], [0, 0, 1]]);
    const a = tensor([1, 2, 3], undefined, { requiresGrad: true }); // broadcast over rows
    const b = tensor([[4, 5, 6], [7, 8, 9]], undefined, { requiresGrad: true });
    where(cond, a, b).mul(tensor([[1, 2, 3], [4, 5, 6]])).sum().backward();
    expectClose(a.grad!.toArray(), [1, 0, 9], 0, 0, 'da');
    expectClose(b.grad!.toArray(), [0, 2, 0, 4, 5, 0], 0, 0, 'db');
    const gen = new Generator(601);
    const r = gradCheck((p, q) => where(cond, p, q), [tensor(randomArr(gen, [3]).data, [3]), tensor(randomArr(gen, [2, 3]).data, [2, 3])]);
    expect(r.ok, JSON.stringify(r.worst)).to.equal(true);
  });
});
