/**
 * Unit 1: tensors. Creation, views over shared storage, contiguous copies, reading values,
 * printing, and error messages. Expected values come from the plain-number references in
 * helpers/reference.ts, never from the library itself.
 *
 * Moving numbers around (views, copies, creation) must not change them, so those comparisons
 * are exact; only arithmetic gets a tolerance.
 */
import { expect } from 'chai';
import { arange, fromArray, full, linspace, ones, randn, tensor, zeros } from '../src/creation';
import { Generator } from '../src/random';
import type { Tensor } from '../src/tensor';
import { forEachBackend } from './helpers/backends';
import {
  Arr, LAYOUTS, build, expectClose, expectTensor, randomArr, randomInput, randomInt, randomShape, refExpand, refPermute, refSlice, sizeOf,
} from './helpers/reference';

/** Exact comparison for data movement. */
function expectSame(t: Tensor, a: Arr, what: string) {
  expectTensor(t, a, 0, 0, what);
}

forEachBackend('[unit 1: tensors] creation', () => {
  it('zeros, ones and full have the shape asked for and one value everywhere', () => {
    for (const shape of [[], [3], [2, 3, 4], [2, 0, 3]]) {
      for (const [t, v] of [[zeros(shape), 0], [ones(shape), 1], [full(shape, -2.5), -2.5]] as [Tensor, number][]) {
        expect(t.shape).to.deep.equal(shape);
        expect(t.ndim).to.equal(shape.length);
        expect(t.size).to.equal(sizeOf(shape));
        expectClose(t.toArray(), new Array(sizeOf(shape)).fill(v), 0, 0, `full([${shape}], ${v})`);
      }
    }
  });

  it('rejects shapes that are not lists of non-negative integers', () => {
    expect(() => full([2, -1], 0)).to.throw('full: a shape must be a list of non-negative integers, got [2,-1]');
    expect(() => zeros([1.5])).to.throw(/full: a shape must be/);
  });

  it('tensor() infers the shape of nested arrays', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).to.deep.equal([2, 3]);
    expect(Array.from(t.toArray())).to.deep.equal([1, 2, 3, 4, 5, 6]);
    const t3 = tensor([[[1], [2]], [[3], [4]], [[5], [6]]]);
    expect(t3.shape).to.deep.equal([3, 2, 1]);
    expect(t3.tolist()).to.deep.equal([[[1], [2]], [[3], [4]], [[5], [6]]]);
    const s = tensor(3.5);
    expect(s.shape).to.deep.equal([]);
    expect(s.item()).to.equal(3.5);
    expect(tensor([7, 8]).shape).to.deep.equal([2]);
    expect(tensor(Float32Array.of(1, 2, 3)).shape).to.deep.equal([3]);
  });

  it('tensor() with a shape fills it in row-major order', () => {
    const t = tensor([1, 2, 3, 4, 5, 6], [3, 2]);
    expect(t.tolist()).to.deep.equal([[1, 2], [3, 4], [5, 6]]);
    expect(() => tensor([1, 2, 3], [2, 2])).to.throw('tensor: 3 values do not fill shape [2,2] (4 elements)');
  });

  it('tensor() rejects ragged nested arrays and says where', () => {
    expect(() => tensor([[1, 2], [3]])).to.throw('tensor: ragged nested array at data[1]: expected 2 entries');
    expect(() => tensor([[1, 2], [3, [4]]] as any)).to.throw('tensor: expected a number at data[1][1]');
    expect(() => tensor([[1, 2], 3] as any)).to.throw(/tensor: ragged nested array at data\[1\]/);
  });

  it('fromArray copies the data, rounded to float32', () => {
    const src = Float32Array.of(0.1, 2, 3, 4);
    const t = fromArray(src, [2, 2]);
    src[0] = 99; // the tensor owns a copy
    expect(Array.from(t.toArray())).to.deep.equal([Math.fround(0.1), 2, 3, 4]);
    expect(tensor([0.1]).item()).to.equal(Math.fround(0.1));
  });

  it('requiresGrad can be set at creation', () => {
    expect(tensor([1, 2], undefined, { requiresGrad: true }).requiresGrad).to.equal(true);
    expect(zeros([2], { requiresGrad: true }).requiresGrad).to.equal(true);
    expect(randn([2], { requiresGrad: true }).requiresGrad).to.equal(true);
    expect(ones([2]).requiresGrad).to.equal(false);
  });

  it('arange counts like numpy.arange (end excluded, any step sign)', () => {
    const cases: [number[], number[]][] = [
      [[5], [0, 1, 2, 3, 4]],
      [[2, 5], [2, 3, 4]],
      [[0, 1, 0.25], [0, 0.25, 0.5, 0.75]],
      [[5, 0, -2], [5, 3, 1]],
      [[3, 3], []],
      [[3, 1], []],
    ];
    for (const [args, want] of cases) {
      const t = (arange as (...a: number[]) => Tensor)(...args);
      expect(t.shape, `arange(${args})`).to.deep.equal([want.length]);
      expectClose(t.toArray(), want, 0, 0, `arange(${args})`);
    }
    expect(() => arange(0, 5, 0)).to.throw('arange: step must not be 0');
  });

  it('linspace gives n evenly spaced values with both ends included', () => {
    for (const [a, b, n] of [[0, 1, 5], [-2, 3, 11], [1, -1, 4], [0, 0.3, 7]]) {
      const want = Array.from({ length: n }, (_, i) => Math.fround(a + ((b - a) * i) / (n - 1)));
      const t = linspace(a, b, n);
      expectClose(t.toArray(), want, 1e-6, 1e-7, `linspace(${a}, ${b}, ${n})`);
      expect(t.toArray()[n - 1], 'the end is exact').to.equal(Math.fround(b));
    }
    expect(Array.from(linspace(-1, 1, 1).toArray())).to.deep.equal([-1]);
    expect(linspace(2, 3, 0).shape).to.deep.equal([0]);
    expect(() => linspace(0, 1, 2.5)).to.throw('linspace: n must be a non-negative integer, got 2.5');
  });

  it('zerosLike, onesLike, fullLike and clone keep the shape of a view', () => {
    const gen = new Generator(3);
    const { t, ref } = randomInput(gen, [2, 3, 4], 'permuted');
    expectSame(t.zerosLike(), { data: new Array(24).fill(0), shape: [2, 3, 4] }, 'zerosLike');
    expectSame(t.onesLike(), { data: new Array(24).fill(1), shape: [2, 3, 4] }, 'onesLike');
    expectSame(t.fullLike(7), { data: new Array(24).fill(7), shape: [2, 3, 4] }, 'fullLike');
    const c = t.clone();
    expectSame(c, ref, 'clone');
    expect(c.storage).to.not.equal(t.storage);
  });
});

forEachBackend('[unit 1: tensors] views', () => {
  const base = () => {
    const a = build([2, 3, 4], (i) => 100 * i[0] + 10 * i[1] + i[2]);
    return { a, t: tensor(a.data, a.shape) };
  };

  it('reshape keeps the row-major order, infers one -1 and shares storage', () => {
    const { a, t } = base();
    for (const [args, shape] of [[[6, 4], [6, 4]], [[[4, 6]], [4, 6]], [[-1], [24]], [[2, -1, 3], [2, 4, 3]], [[-1, 1], [24, 1]]] as [any[], number[]][]) {
      const r = t.reshape(...args);
      expectSame(r, { data: a.data, shape }, `reshape(${JSON.stringify(args)})`);
      expect(r.storage, 'a view').to.equal(t.storage);
    }
    expectSame(t.viewAs(4, 6), { data: a.data, shape: [4, 6] }, 'viewAs');
  });

  it('reshape of a permuted view copies, in the order of the view', () => {
    const { a, t } = base();
    const p = t.permute(2, 0, 1);
    const r = p.reshape(4, 6);
    expectSame(r, { data: refPermute(a, [2, 0, 1]).data, shape: [4, 6] }, 'reshape of permute');
    expect(r.storage, 'the layout allows no view, so a copy').to.not.equal(t.storage);
  });

  it('reshape errors name the shapes', () => {
    const { t } = base();
    expect(() => t.reshape(5, 5)).to.throw('reshape: cannot reshape [2,3,4] (24 elements) into [5,5] (25 elements)');
    expect(() => t.reshape(-1, -1)).to.throw('reshape: only one dimension can be -1, got [-1,-1]');
    expect(() => t.reshape(5, -1)).to.throw('reshape: cannot reshape [2,3,4] (24 elements) into [5,-1]');
  });

  it('permute matches the loop reference on random shapes and shares storage', () => {
    const gen = new Generator(11);
    for (let c = 0; c < 12; c++) {
      const a = randomArr(gen, randomShape(gen, 1, 5, 4));
      const t = tensor(a.data, a.shape);
      const perm = gen.permutation(a.shape.length);
      const p = t.permute(perm);
      expectSame(p, refPermute(a, perm), `permute([${a.shape}], [${perm}])`);
      expect(p.storage).to.equal(t.storage);
      expectSame(p.contiguous(), refPermute(a, perm), `contiguous(permute([${a.shape}], [${perm}]))`);
    }
    const { a, t } = base();
    expectSame(t.permute(-1, 0, -2), refPermute(a, [2, 0, 1]), 'negative axes');
    expect(() => t.permute(0, 1)).to.throw('permute: expected 3 axes for shape [2,3,4], got [0,1]');
    expect(() => t.permute(0, 1, 1)).to.throw('permute: axes [0,1,1] are not a permutation');
  });

  it('transpose swaps two axes (the last two by default)', () => {
    const { a, t } = base();
    expectSame(t.transpose(), refPermute(a, [0, 2, 1]), 'transpose()');
    expectSame(t.transpose(0, 2), refPermute(a, [2, 1, 0]), 'transpose(0, 2)');
    expectSame(t.transpose(1, -3), refPermute(a, [1, 0, 2]), 'transpose(1, -3)');
    expect(t.transpose().storage).to.equal(t.storage);
  });

  it('slice matches the loop reference (negative and omitted bounds) and shares storage', () => {
    const gen = new Generator(12);
    for (let c = 0; c < 12; c++) {
      const a = randomArr(gen, randomShape(gen, 1, 4, 5));
      const t = tensor(a.data, a.shape);
      const axis = gen.randint(a.shape.length);
      const n = a.shape[axis];
      const start = gen.randint(n);
      const end = randomInt(gen, start, n);
      const want = refSlice(a, axis, start, end);
      expectSame(t.slice(axis, start, end), want, `slice([${a.shape}], ${axis}, ${start}, ${end})`);
      expectSame(t.slice(axis - a.shape.length, start - n, end === n ? undefined : end - n), want, 'negative axis and bounds');
      expect(t.slice(axis, start, end).storage).to.equal(t.storage);
    }
    const { t } = base();
    expect(t.slice(1, 2, 2).shape, 'an empty slice').to.deep.equal([2, 0, 4]);
    expect(() => t.slice(1, 1, 5)).to.throw('slice: range [1, 5) is out of bounds for axis 1 of size 3 (shape [2,3,4])');
  });

  it('select picks one entry along an axis (negative index from the end) and shares storage', () => {
    const { a, t } = base();
    for (const [axis, index] of [[0, 1], [1, 0], [1, -1], [2, 2], [-1, -4]]) {
      const ax = axis < 0 ? axis + 3 : axis;
      const i = index < 0 ? index + a.shape[ax] : index;
      const sl = refSlice(a, ax, i, i + 1);
      const s = t.select(axis, index);
      expectSame(s, { data: sl.data, shape: a.shape.filter((_, d) => d !== ax) }, `select(${axis}, ${index})`);
      expect(s.storage, `select(${axis}, ${index}) is a view`).to.equal(t.storage);
    }
    expect(() => t.select(1, 3)).to.throw('select: index 3 is out of range for axis 1 of size 3 (shape [2,3,4])');
  });

  it('expand repeats size-1 dims with stride 0, without a copy', () => {
    const a = build([3, 1], (i) => i[0] + 1);
    const t = tensor(a.data, a.shape);
    const e = t.expand(2, 3, 4);
    expectSame(e, refExpand(a, [2, 3, 4]), 'expand([3,1] -> [2,3,4])');
    expect(e.strides[0]).to.equal(0);
    expect(e.strides[2]).to.equal(0);
    expect(e.storage).to.equal(t.storage);
    expect(e.isContiguous()).to.equal(false);
    expectSame(e.contiguous(), refExpand(a, [2, 3, 4]), 'contiguous of expand');
    expect(() => t.expand(2, 2)).to.throw('expand: cannot expand [3,1] to [2,2] (size 3 at axis 0 is not 1)');
    expect(() => tensor([1, 2, 3], [3]).expand(2, 4)).to.throw('expand: cannot expand [3] to [2,4] (size 3 at axis 0 is not 1)');
  });

  it('squeeze and unsqueeze remove and insert size-1 dims as views', () => {
    const a = build([1, 3, 1, 2], (i) => 10 * i[1] + i[3]);
    const t = tensor(a.data, a.shape);
    const cases: [Tensor, number[]][] = [
      [t.squeeze(), [3, 2]],
      [t.squeeze(0), [3, 1, 2]],
      [t.squeeze(-2), [1, 3, 2]],
      [t.squeeze(1), [1, 3, 1, 2]], // size 3: unchanged, as in PyTorch
      [t.unsqueeze(0), [1, 1, 3, 1, 2]],
      [t.unsqueeze(-1), [1, 3, 1, 2, 1]],
      [t.unsqueeze(2), [1, 3, 1, 1, 2]],
    ];
    for (const [v, shape] of cases) {
      expectSame(v, { data: a.data, shape }, `squeeze/unsqueeze -> [${shape}]`);
      expect(v.storage).to.equal(t.storage);
    }
    // also on a permuted (non-contiguous) view: still no copy
    const p = t.permute(3, 2, 1, 0); // [2, 1, 3, 1]
    const sq = p.squeeze();
    expectSame(sq, { data: refPermute(a, [3, 2, 1, 0]).data, shape: [2, 3] }, 'squeeze of a permuted view');
    expect(sq.storage).to.equal(t.storage);
    const un = p.unsqueeze(1);
    expectSame(un, { data: refPermute(a, [3, 2, 1, 0]).data, shape: [2, 1, 1, 3, 1] }, 'unsqueeze of a permuted view');
    expect(un.storage).to.equal(t.storage);
  });

  it('flatten merges a range of axes', () => {
    const { a, t } = base();
    for (const [args, shape] of [[[], [24]], [[1], [2, 12]], [[0, 1], [6, 4]], [[-2, -1], [2, 12]], [[1, 1], [2, 3, 4]]] as [number[], number[]][]) {
      const f = t.flatten(...args);
      expectSame(f, { data: a.data, shape }, `flatten(${args})`);
      expect(f.storage).to.equal(t.storage);
    }
    expect(tensor(5).flatten().shape).to.deep.equal([1]);
    expectSame(t.permute(2, 1, 0).flatten(1), { data: refPermute(a, [2, 1, 0]).data, shape: [4, 6] }, 'flatten of a permuted view');
    expect(() => t.flatten(2, 1)).to.throw('flatten: start axis 2 comes after end axis 1');
  });

  it('random chains of views read the same values as the loop reference', () => {
    // each step applies one view to both the tensor and the plain array
    const gen = new Generator(13);
    for (let c = 0; c < 25; c++) {
      let a = randomArr(gen, randomShape(gen, 1, 4, 4));
      let t = tensor(a.data, a.shape);
      const trail: string[] = [`[${a.shape}]`];
      for (let step = 0; step < 5; step++) {
        const nd = a.shape.length;
        const kind = gen.randint(6);
        if (kind === 0 && nd >= 1) {
          const perm = gen.permutation(nd);
          t = t.permute(perm);
          a = refPermute(a, perm);
          trail.push(`permute(${perm})`);
        } else if (kind === 1 && nd >= 1) {
          const axis = gen.randint(nd);
          const start = gen.randint(a.shape[axis]);
          const end = randomInt(gen, start + 1, a.shape[axis]);
          t = t.slice(axis, start, end);
          a = refSlice(a, axis, start, end);
          trail.push(`slice(${axis}, ${start}, ${end})`);
        } else if (kind === 2 && nd < 5) {
          const axis = gen.randint(nd + 1);
          const reps = randomInt(gen, 2, 3);
          const shape = a.shape.slice();
          shape.splice(axis, 0, 1);
          a = { data: a.data, shape: shape.slice() };
          t = t.unsqueeze(axis);
          shape[axis] = reps;
          t = t.expand(shape);
          a = refExpand(a, shape);
          trail.push(`unsqueeze(${axis}).expand([${shape}])`);
        } else if (kind === 3 && nd >= 2) {
          t = t.transpose();
          a = refPermute(a, [...a.shape.keys()].map((d) => (d === nd - 2 ? nd - 1 : d === nd - 1 ? nd - 2 : d)));
          trail.push('transpose()');
        } else if (kind === 4 && nd >= 2) {
          const axis = gen.randint(nd);
          const index = gen.randint(a.shape[axis]);
          const sl = refSlice(a, axis, index, index + 1);
          t = t.select(axis, index);
          a = { data: sl.data, shape: a.shape.filter((_, d) => d !== axis) };
          trail.push(`select(${axis}, ${index})`);
        } else {
          t = t.reshape(-1);
          a = { data: a.data, shape: [a.data.length] };
          trail.push('reshape(-1)');
        }
        expectSame(t, a, trail.join('.'));
      }
    }
  });
});

forEachBackend('[unit 1: tensors] contiguous', () => {
  it('contiguous() of every layout equals the loop reference', () => {
    const gen = new Generator(21);
    for (let c = 0; c < 6; c++) {
      const shape = randomShape(gen, 2, 4, 4);
      for (const layout of LAYOUTS) {
        const { t, ref } = randomInput(gen, shape, layout);
        const d = t.contiguous();
        expectSame(d, ref, `contiguous() of a ${layout} [${shape}]`);
        expect(d.isContiguous()).to.equal(true);
        if (t.isContiguous()) expect(d, 'already contiguous: the same tensor').to.equal(t);
        else expect(d.storage, 'a copy').to.not.equal(t.storage);
      }
    }
  });

  it('isContiguous tells dense row-major views from the others', () => {
    const t = zeros([3, 4]);
    expect(t.isContiguous()).to.equal(true);
    expect(t.transpose().isContiguous()).to.equal(false);
    expect(t.slice(0, 1, 3).isContiguous(), 'rows of a matrix are dense').to.equal(true);
    expect(t.slice(1, 1, 3).isContiguous(), 'columns are not').to.equal(false);
    expect(t.reshape(3, 1, 4).expand(3, 2, 4).isContiguous()).to.equal(false);
    expect(zeros([1, 4]).transpose().isContiguous(), 'size-1 dims do not count').to.equal(true);
  });
});

forEachBackend('[unit 1: tensors] reading values', () => {
  it('item() reads a one-element tensor of any rank, and refuses others', () => {
    expect(tensor(2.5).item()).to.equal(2.5);
    expect(tensor([[[-4]]]).item()).to.equal(-4);
    expect(arange(6).reshape(2, 3).select(0, 1).select(0, 2).item()).to.equal(5);
    expect(() => zeros([2, 3]).item()).to.throw('item: only a one-element tensor has an item, got shape [2,3]');
  });

  it('toArray() of a view returns exactly the view, in row-major order', () => {
    const a = build([4, 5], (i) => 10 * i[0] + i[1]);
    const t = tensor(a.data, a.shape);
    const rows = t.slice(0, 1, 3); // dense, but starts at an offset
    expect(Array.from(rows.toArray())).to.deep.equal(refSlice(a, 0, 1, 3).data);
    const cols = t.slice(1, 2, 4);
    expect(Array.from(cols.toArray())).to.deep.equal(refSlice(a, 1, 2, 4).data);
    expect(Array.from(t.transpose().toArray())).to.deep.equal(refPermute(a, [1, 0]).data);
    expect(t.toArray()).to.be.instanceOf(Float32Array);
  });

  it('tolist() gives nested arrays (a number for a scalar)', () => {
    const a = build([2, 3], (i) => 3 * i[0] + i[1]);
    const t = tensor(a.data, a.shape);
    expect(t.tolist()).to.deep.equal([[0, 1, 2], [3, 4, 5]]);
    expect(t.transpose().tolist()).to.deep.equal([[0, 3], [1, 4], [2, 5]]);
    expect(tensor(1.5).tolist()).to.equal(1.5);
    expect(zeros([2, 0]).tolist()).to.deep.equal([[], []]);
  });
});

forEachBackend('[unit 1: tensors] printing', () => {
  // tensors on a backend other than the reference one say so at the end
  let suffix = '';
  beforeEach(() => {
    const name = zeros([]).backend.name;
    suffix = name === 'ref' ? '' : `, backend=${name}`;
  });
  it('prints small tensors in full, like PyTorch, with 4 decimals', () => {
    expect(tensor([[1, 2, 3], [4, 5, 6]]).toString()).to.equal(`tensor([[1.0000, 2.0000, 3.0000],\n        [4.0000, 5.0000, 6.0000]]${suffix})`);
    expect(tensor(-3.25).toString()).to.equal(`tensor(-3.2500${suffix})`);
    expect(tensor([0.5, -0.25], undefined, { requiresGrad: true }).toString()).to.equal(`tensor([ 0.5000, -0.2500], requiresGrad=true${suffix})`);
    expect(arange(8).reshape(2, 2, 2).toString()).to.equal(
      `tensor([[[0.0000, 1.0000],\n         [2.0000, 3.0000]],\n\n        [[4.0000, 5.0000],\n         [6.0000, 7.0000]]]${suffix})`,
    );
    expect(tensor([[1, 2], [3, 4]]).transpose().toString(), 'a view prints its own order').to.equal(`tensor([[1.0000, 3.0000],\n        [2.0000, 4.0000]]${suffix})`);
  });

  it('switches to scientific notation for very small or large magnitudes, and spells nan and inf', () => {
    expect(tensor([1e-5, 1, 100]).toString()).to.equal(`tensor([1.0000e-5, 1.0000e+0, 1.0000e+2]${suffix})`);
    expect(tensor([NaN, Infinity, -Infinity, 1]).toString()).to.equal(`tensor([   nan,    inf,   -inf, 1.0000]${suffix})`);
  });

  it('shows the op that made a tensor', () => {
    const x = tensor([[1.5, -2], [3, 4]], undefined, { requiresGrad: true });
    expect(x.mul(2).toString()).to.equal(`tensor([[ 3.0000, -4.0000],\n        [ 6.0000,  8.0000]], gradFn=MulScalar${suffix})`);
  });

  it('summarizes tensors of more than 1000 elements with ... and the shape', () => {
    const s = arange(2000).reshape(40, 50).toString();
    const lines = s.split('\n');
    expect(lines).to.have.length(7); // 3 rows, '...', 3 rows
    expect(lines[0]).to.equal('tensor([[   0.0000,    1.0000,    2.0000, ...,   47.0000,   48.0000,   49.0000],');
    expect(lines[3].trim()).to.equal('...,');
    expect(lines[6]).to.equal(`        [1950.0000, 1951.0000, 1952.0000, ..., 1997.0000, 1998.0000, 1999.0000]], shape=[40,50]${suffix})`);
    expect(arange(1000).toString(), '1000 elements are printed in full').to.not.include('...');
    expect(arange(1001).toString()).to.include('...').and.to.include('shape=[1001]');
  });

  it('prints a large tensor (393,216 elements) without overflowing the stack', () => {
    const s = zeros([128, 3, 32, 32]).toString();
    expect(s).to.include('shape=[128,3,32,32]');
    expect(s.length).to.be.lessThan(10000);
  });
});

forEachBackend('[unit 1: tensors] error messages name the op and the shapes', () => {
  it('matmul, broadcasting and views', () => {
    expect(() => zeros([64, 32]).matmul(zeros([16, 8]))).to.throw('matmul: inner dimensions differ: [64,32] x [16,8]');
    expect(() => zeros([2, 3]).add(zeros([4]))).to.throw('add: shapes [2,3] and [4] cannot be broadcast together (size 3 vs 4 at axis -1)');
    expect(() => zeros([5, 2, 3]).mul(zeros([4, 1, 3]))).to.throw('mul: shapes [5,2,3] and [4,1,3] cannot be broadcast together (size 5 vs 4 at axis -3)');
    for (const op of ['sub', 'div', 'pow'] as const) {
      expect(() => (zeros([2]) as any)[op](zeros([3]))).to.throw(`${op}: shapes [2] and [3] cannot be broadcast together`);
    }
    expect(() => zeros([2]).maximum(zeros([3]))).to.throw('maximum: shapes [2] and [3]');
    expect(() => zeros([2]).minimum(zeros([3]))).to.throw('minimum: shapes [2] and [3]');
    expect(() => zeros([2]).lt(zeros([3]))).to.throw('lt: shapes [2] and [3]');
    expect(() => zeros([2, 3]).sum(2)).to.throw('sum: axis 2 is out of range for a 2-d tensor');
    expect(() => zeros([2, 3]).transpose(0, 5)).to.throw('transpose: axis 5 is out of range for a 2-d tensor');
  });
});
