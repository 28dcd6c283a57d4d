/**
 * Unit 3: ops (the neural-network ops). matmul, conv2d, nearest upsampling, average pooling,
 * concat/split, softmax/logSoftmax, groupNorm, layerNorm and the two losses: forward against
 * the nested loops of helpers/reference.ts (or closed forms), backward against gradCheck.
 */
import { expect } from 'chai';
import { tensor, zeros } from '../src/creation';
import { gradCheck } from '../src/gradcheck';
import { avgPool2d, concat, conv2d, crossEntropy, groupNorm, groupNormComposed, layerNorm, matmul, mseLoss, pad2d, split, upsampleNearest2d, upsampleNearestConv2d } from '../src/ops';
import { Generator } from '../src/random';
import type { Tensor } from '../src/tensor';
import { forEachBackend } from './helpers/backends';
import {
  Arr, LAYOUTS, Shape, expectClose, expectTensor, maxAbs, randomArr, randomInput, randomInt, randomShape, refAvgPool, refConcat, refConv2d, refGroupNorm,
  refLayerNorm, refLogSoftmax, refMatmul, refPermute, refSlice, refSoftmax, refUpsampleNearest, sizeOf,
} from './helpers/reference';

const t = (a: Arr) => tensor(a.data, a.shape);

/** Assert gradCheck passes, naming the case and the worst element if not. */
function expectGradOk(what: string, f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts = {}) {
  const r = gradCheck(f, inputs, opts);
  expect(r.ok, `${what}: worst ${JSON.stringify(r.worst)}`).to.equal(true);
}

forEachBackend('[unit 3: ops] matmul', (bc) => {
  /** A contiguous matrix operand stored transposed: transpose() of a [.., cols, rows] tensor. */
  const storedTransposed = (a: Arr) => {
    const nd = a.shape.length;
    const swap = [...a.shape.keys()].map((d) => (d === nd - 2 ? nd - 1 : d === nd - 1 ? nd - 2 : d));
    return t(refPermute(a, swap)).transpose(-2, -1);
  };

  const SHAPES: [Shape, Shape][] = [
    [[3, 4], [4, 5]],
    [[1, 6], [6, 1]],
    [[2, 3, 4], [2, 4, 5]], // batched
    [[2, 1, 3, 4], [3, 4, 2]], // batch dims broadcast: [2, 1] with [3]
    [[3, 4], [2, 4, 5]], // a matrix against a batch
    [[2, 3, 4], [4, 5]],
    [[1, 3, 4], [2, 4, 2]], // a batch of one broadcast
  ];

  it('matches the triple loop on 2-d, batched and broadcast-batch shapes', () => {
    const gen = new Generator(800);
    for (const [sa, sb] of SHAPES) {
      const a = randomArr(gen, sa);
      const b = randomArr(gen, sb);
      const k = sa[sa.length - 1];
      expectTensor(t(a).matmul(t(b)), refMatmul(a, b), bc.rtol, k * bc.rtol, `[${sa}] x [${sb}]`);
    }
  });

  it('reads transposed, permuted, sliced and expanded operands correctly', () => {
    const gen = new Generator(801);
    for (const [sa, sb] of SHAPES) {
      const a = randomArr(gen, sa);
      const b = randomArr(gen, sb);
      const want = refMatmul(a, b);
      const k = sa[sa.length - 1];
      const tol = k * bc.rtol;
      expectTensor(storedTransposed(a).matmul(t(b)), want, bc.rtol, tol, `A^T stored: [${sa}] x [${sb}]`);
      expectTensor(t(a).matmul(storedTransposed(b)), want, bc.rtol, tol, `B^T stored: [${sa}] x [${sb}]`);
      expectTensor(storedTransposed(a).matmul(storedTransposed(b)), want, bc.rtol, tol, `both stored transposed: [${sa}] x [${sb}]`);
      for (const layout of LAYOUTS) {
        const A = randomInput(gen, sa, layout);
        const B = randomInput(gen, sb, LAYOUTS[(LAYOUTS.indexOf(layout) + 1) % LAYOUTS.length]);
        expectTensor(A.t.matmul(B.t), refMatmul(A.ref, B.ref), bc.rtol, tol, `${layout} [${sa}] x [${sb}]`);
      }
    }
  });

  it('treats a 1-d left operand as a row and a 1-d right operand as a column (numpy rules)', () => {
    const gen = new Generator(802);
    const v = randomArr(gen, [4]);
    const row = { data: v.data, shape: [1, 4] };
    const col = { data: v.data, shape: [4, 1] };
    const m = randomArr(gen, [4, 5]);
    const n = randomArr(gen, [3, 4]);
    const batch = randomArr(gen, [2, 4, 5]);
    const tol = 4 * bc.rtol;
    expectTensor(t(v).matmul(t(v)), { data: refMatmul(row, col).data, shape: [] }, bc.rtol, tol, 'vector . vector');
    expectTensor(t(v).matmul(t(m)), { data: refMatmul(row, m).data, shape: [5] }, bc.rtol, tol, 'vector x matrix');
    expectTensor(t(n).matmul(t(v)), { data: refMatmul(n, col).data, shape: [3] }, bc.rtol, tol, 'matrix x vector');
    expectTensor(matmul(t(v), t(batch)), { data: refMatmul(row, batch).data, shape: [2, 5] }, bc.rtol, tol, 'vector x batch');
    const batchA = randomArr(gen, [2, 3, 4]);
    expectTensor(matmul(t(batchA), t(v)), { data: refMatmul(batchA, col).data, shape: [2, 3] }, bc.rtol, tol, 'batch x vector');
  });

  it('backward matches central differences (broadcast batches, vectors, transposed views)', () => {
    const gen = new Generator(803);
    for (const [sa, sb] of [...SHAPES.slice(2), [[4], [4, 3]], [[2, 4], [4]], [[4], [4]]] as [Shape, Shape][]) {
      const a = t(randomArr(gen, sa));
      const b = t(randomArr(gen, sb));
      expectGradOk(`[${sa}] x [${sb}]`, (p, q) => p.matmul(q), [a, b]);
    }
    const a = t(randomArr(gen, [4, 3]));
    const b = t(randomArr(gen, [5, 4]));
    expectGradOk('A^T B^T', (p, q) => p.transpose().matmul(q.transpose()), [a, b]);
  });

  it('closed form: for C = A B, dL/dA = G B^T and dL/dB = A^T G', () => {
    const a = tensor([[1, 2], [3, 4]], undefined, { requiresGrad: true });
    const b = tensor([[5, 6], [7, 8]], undefined, { requiresGrad: true });
    a.matmul(b).sum().backward(); // G = ones
    expect(a.grad!.tolist()).to.deep.equal([[11, 15], [11, 15]]);
    expect(b.grad!.tolist()).to.deep.equal([[4, 4], [6, 6]]);
  });

  it('errors name the shapes', () => {
    expect(() => zeros([64, 32]).matmul(zeros([16, 8]))).to.throw('matmul: inner dimensions differ: [64,32] x [16,8]');
    expect(() => zeros([2, 3, 4]).matmul(zeros([3, 4, 5]))).to.throw('matmul: shapes [2] and [3] cannot be broadcast together');
    expect(() => tensor(2).matmul(zeros([2]))).to.throw('matmul: scalars are not matrices: [] x [2]');
  });
});

forEachBackend('[unit 3: ops] conv2d', (bc) => {
  interface ConvCase {
    x: Shape;
    w: Shape;
    stride: [number, number];
    pad: [number, number];
    bias: boolean;
  }
  const CASES: ConvCase[] = [
    { x: [2, 3, 5, 6], w: [4, 3, 3, 3], stride: [1, 1], pad: [0, 0], bias: false },
    { x: [2, 3, 5, 6], w: [4, 3, 3, 3], stride: [1, 1], pad: [1, 1], bias: true },
    { x: [1, 2, 7, 6], w: [3, 2, 3, 3], stride: [2, 2], pad: [0, 0], bias: true },
    { x: [1, 2, 7, 6], w: [3, 2, 3, 3], stride: [2, 2], pad: [1, 1], bias: false },
    { x: [2, 2, 5, 7], w: [3, 2, 2, 3], stride: [2, 1], pad: [1, 0], bias: true }, // non-square everything
    { x: [1, 3, 4, 4], w: [2, 3, 1, 1], stride: [1, 1], pad: [0, 0], bias: true }, // 1x1
    { x: [1, 1, 3, 3], w: [1, 1, 3, 3], stride: [1, 1], pad: [2, 2], bias: false }, // padding wider than needed
  ];
  const describeCase = (c: ConvCase) => `x [${c.x}], w [${c.w}], stride ${c.stride}, padding ${c.pad}${c.bias ? ', bias' : ''}`;
  const opts = (c: ConvCase) => ({ stride: c.stride, padding: c.pad });

  it('matches the definition (nested loops) for strides 1 and 2, paddings 0 and 1, non-square shapes', () => {
    const gen = new Generator(810);
    for (const c of CASES) {
      const x = randomArr(gen, c.x);
      const w = randomArr(gen, c.w);
      const b = c.bias ? randomArr(gen, [c.w[0]]) : null;
      const want = refConv2d(x, w, b, c.stride, c.pad);
      const terms = c.w[1] * c.w[2] * c.w[3];
      expectTensor(conv2d(t(x), t(w), b && t(b), opts(c)), want, bc.rtol, terms * bc.rtol, describeCase(c));
      // the same through a non-contiguous input (an NHWC tensor permuted to NCHW)
      const { t: xp, ref: xr } = randomInput(gen, c.x, 'permuted');
      expectTensor(conv2d(xp, t(w), b && t(b), opts(c)), refConv2d(xr, w, b, c.stride, c.pad), bc.rtol, terms * bc.rtol, `${describeCase(c)}, permuted input`);
    }
    // a plain number for stride and padding means both directions
    const x = randomArr(gen, [1, 2, 6, 6]);
    const w = randomArr(gen, [2, 2, 3, 3]);
    expectTensor(conv2d(t(x), t(w), null, { stride: 2, padding: 1 }), refConv2d(x, w, null, [2, 2], [1, 1]), bc.rtol, 18 * bc.rtol, 'stride 2, padding 1 as numbers');
  });

  it('gradients for input, weight and bias match central differences', () => {
    const gen = new Generator(811);
    const small: ConvCase[] = [
      { x: [2, 2, 4, 5], w: [2, 2, 3, 3], stride: [1, 1], pad: [0, 0], bias: true },
      { x: [1, 2, 5, 5], w: [3, 2, 3, 3], stride: [1, 1], pad: [1, 1], bias: true },
      { x: [1, 2, 5, 6], w: [2, 2, 3, 3], stride: [2, 2], pad: [1, 1], bias: true },
      { x: [2, 1, 5, 4], w: [2, 1, 2, 3], stride: [2, 1], pad: [0, 1], bias: true },
    ];
    for (const c of small) {
      const x = t(randomArr(gen, c.x));
      const w = t(randomArr(gen, c.w));
      const b = t(randomArr(gen, [c.w[0]]));
      expectGradOk(describeCase(c), (p, q, r) => conv2d(p, q, r, opts(c)), [x, w, b]);
    }
  });

  it('closed form: the bias gradient is the sum of the output gradient over batch and positions', () => {
    const x = tensor(randomArr(new Generator(812), [2, 1, 4, 4]).data, [2, 1, 4, 4]);
    const w = tensor(randomArr(new Generator(813), [3, 1, 3, 3]).data, [3, 1, 3, 3]);
    const b = tensor([0.1, 0.2, 0.3], undefined, { requiresGrad: true });
    conv2d(x, w, b, { padding: 1 }).sum().backward();
    expectClose(b.grad!.toArray(), [32, 32, 32], bc.rtol, 0, 'd/db = N * OH * OW');
  });

  it('errors name the shapes', () => {
    expect(() => conv2d(zeros([1, 3, 5, 5]), zeros([4, 2, 3, 3]))).to.throw('conv2d: input has 3 channels but weight expects 2: input [1,3,5,5], weight [4,2,3,3]');
    expect(() => conv2d(zeros([3, 5, 5]), zeros([4, 3, 3, 3]))).to.throw('conv2d: input must be 4-d [N, C, H, W], got [3,5,5]');
    expect(() => conv2d(zeros([1, 1, 2, 2]), zeros([1, 1, 3, 3]))).to.throw('conv2d: kernel 3x3 is larger than the padded input 2x2 (input [1,1,2,2])');
    expect(() => conv2d(zeros([1, 1, 3, 3]), zeros([2, 1, 3, 3]), zeros([3]))).to.throw('conv2d: bias must be [2], got [3]');
  });
});

forEachBackend('[unit 3: ops] upsampling and pooling', (bc) => {
  it('upsampleNearest2d repeats each pixel scale x scale times', () => {
    const gen = new Generator(820);
    for (const [shape, scale] of [[[2, 3, 2, 3], 2], [[1, 2, 3, 2], 3], [[1, 1, 2, 2], 1]] as [Shape, number][]) {
      for (const layout of LAYOUTS) {
        const { t: x, ref } = randomInput(gen, shape, layout);
        expectTensor(upsampleNearest2d(x, scale), refUpsampleNearest(ref, scale), 0, 0, `upsample [${shape}] x${scale} (${layout})`);
      }
    }
    expect(() => upsampleNearest2d(zeros([2, 2]), 2)).to.throw('upsampleNearest2d: input must be 4-d [N, C, H, W], got [2,2]');
    expect(() => upsampleNearest2d(zeros([1, 1, 2, 2]), 1.5)).to.throw('upsampleNearest2d: scale must be a positive integer, got 1.5');
  });

  it('upsampleNearest2d backward sums the gradient over each block', () => {
    const gen = new Generator(821);
    expectGradOk('upsample x2', (x) => upsampleNearest2d(x, 2), [t(randomArr(gen, [1, 2, 2, 3]))]);
    expectGradOk('upsample x3 of a transposed view', (x) => upsampleNearest2d(x.transpose(), 3), [t(randomArr(gen, [1, 1, 3, 2]))]);
    const x = tensor([[[[1, 2]]]], undefined, { requiresGrad: true });
    upsampleNearest2d(x, 2).mul(tensor([1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 2, 4])).sum().backward();
    expectClose(x.grad!.toArray(), [1 + 2 + 5 + 6, 3 + 4 + 7 + 8], 0, 0, 'block sums');
  });

  it('pad2d puts x inside zeros at (top, left), and its gradient is the inner window of g', () => {
    const gen = new Generator(825);
    for (const [shape, pads] of [[[2, 3, 4, 5], [1, 1, 1, 1]], [[3, 2, 3], [0, 2, 3, 1]], [[4, 4], [2, 0, 0, 0]]] as [Shape, [number, number, number, number]][]) {
      for (const layout of LAYOUTS) {
        const { t: x, ref } = randomInput(gen, shape, layout);
        const [top, bottom, left, right] = pads;
        const [h, w] = shape.slice(-2);
        const outShape = [...shape.slice(0, -2), top + h + bottom, left + w + right];
        const want = new Float32Array(sizeOf(outShape));
        const planes = sizeOf(shape) / (h * w);
        for (let p = 0; p < planes; p++)
          for (let y = 0; y < h; y++) for (let xi = 0; xi < w; xi++) want[(p * outShape.at(-2)! + top + y) * outShape.at(-1)! + left + xi] = ref.data[(p * h + y) * w + xi];
        expectTensor(pad2d(x, pads), { data: want, shape: outShape }, 0, 0, `pad2d [${shape}] by [${pads}] (${layout})`);
      }
    }
    expectGradOk('pad2d', (x) => pad2d(x, [1, 2, 0, 1]), [t(randomArr(gen, [1, 2, 3, 2]))]);
    expect(() => pad2d(zeros([3]), [1, 1, 1, 1])).to.throw('pad2d: input must have at least 2 dims [..., H, W], got [3]');
    expect(() => pad2d(zeros([2, 2]), [1, -1, 0, 0])).to.throw('pad2d: pads must be 4 non-negative integers [top, bottom, left, right], got [1,-1,0,0]');
  });

  it('upsampleNearestConv2d is conv2d(upsampleNearest2d(x, 2)) with padding 1, forward and backward', () => {
    const gen = new Generator(826);
    for (const [n, cin, cout, h, w] of [[2, 3, 5, 4, 3], [1, 4, 4, 1, 1], [1, 2, 3, 5, 6]]) {
      const x = t(randomArr(gen, [n, cin, h, w]));
      const wt = t(randomArr(gen, [cout, cin, 3, 3]));
      const b = t(randomArr(gen, [cout]));
      const gy = t(randomArr(gen, [n, cout, 2 * h, 2 * w]));
      const grads = (f: (x: Tensor, w: Tensor, b: Tensor) => Tensor) => {
        const [xs, ws, bs] = [x, wt, b].map((v) => v.detach().requiresGrad_());
        const y = f(xs, ws, bs);
        y.mul(gy).sum().backward();
        return [y, xs.grad!, ws.grad!, bs.grad!];
      };
      const plain = grads((xs, ws, bs) => conv2d(upsampleNearest2d(xs, 2), ws, bs, { padding: 1 }));
      const phased = grads((xs, ws, bs) => upsampleNearestConv2d(xs, ws, bs));
      // the phase weights add up to 4 taps first: float rounding apart, the same sums
      ['y', 'dx', 'dw', 'db'].forEach((what, i) => expectClose(phased[i].toArray(), plain[i].toArray(), 1e-4, 1e-4, `[${[n, cin, cout, h, w]}] ${what}`));
    }
    expectGradOk('upsampleNearestConv2d', (x, w, b) => upsampleNearestConv2d(x, w, b), [t(randomArr(gen, [1, 2, 3, 2])), t(randomArr(gen, [2, 2, 3, 3])), t(randomArr(gen, [2]))]);
    // other kernel sizes: the two ops as written
    const x = t(randomArr(gen, [1, 2, 3, 3]));
    const w5 = t(randomArr(gen, [1, 2, 5, 5]));
    expectClose(upsampleNearestConv2d(x, w5).toArray(), conv2d(upsampleNearest2d(x, 2), w5, null, { padding: 1 }).toArray(), 0, 0, '5x5 weight');
  });

  it('avgPool2d averages k x k windows and drops rows/columns that do not fill one', () => {
    const gen = new Generator(822);
    for (const [shape, k] of [[[2, 3, 4, 4], 2], [[1, 2, 5, 5], 2], [[1, 1, 7, 5], 3], [[1, 2, 3, 3], 1], [[1, 1, 4, 6], 4]] as [Shape, number][]) {
      for (const layout of LAYOUTS) {
        const { t: x, ref } = randomInput(gen, shape, layout);
        expectTensor(avgPool2d(x, k), refAvgPool(ref, k), bc.rtol, bc.rtol, `avgPool [${shape}] k=${k} (${layout})`);
      }
    }
    expect(() => avgPool2d(zeros([1, 1, 3, 3]), 4)).to.throw('avgPool2d: kernel 4 must be a positive integer no larger than the input 3x3');
  });

  it('avgPool2d backward spreads g / k^2 over each window (and 0 to dropped pixels)', () => {
    const gen = new Generator(823);
    expectGradOk('avgPool k=2 on 4x4', (x) => avgPool2d(x, 2), [t(randomArr(gen, [2, 1, 4, 4]))]);
    expectGradOk('avgPool k=2 on 5x5', (x) => avgPool2d(x, 2), [t(randomArr(gen, [1, 2, 5, 5]))]);
    expectGradOk('avgPool k=3 on 7x5', (x) => avgPool2d(x, 3), [t(randomArr(gen, [1, 1, 7, 5]))]);
    const x = zeros([1, 1, 3, 3], { requiresGrad: true });
    avgPool2d(x, 2).sum().backward();
    expectClose(x.grad!.toArray(), [0.25, 0.25, 0, 0.25, 0.25, 0, 0, 0, 0], bc.rtol, 0, 'window of a 3x3 input');
  });
});

forEachBackend('[unit 3: ops] concat and split', (bc) => {
  it('concat joins random parts along any axis, in every layout', () => {
    const gen = new Generator(830);
    for (let c = 0; c < 10; c++) {
      const shape = randomShape(gen, 1, 4, 3);
      const nd = shape.length;
      const axis = gen.randint(nd);
      const parts = Array.from({ length: randomInt(gen, 1, 3) }, (_, i) => {
        const s = shape.slice();
        s[axis] = randomInt(gen, 1, 3);
        return randomInput(gen, s, LAYOUTS[(c + i) % LAYOUTS.length]);
      });
      const written = gen.uniform() < 0.5 ? axis : axis - nd;
      expectTensor(concat(parts.map((p) => p.t), written), refConcat(parts.map((p) => p.ref), axis), 0, 0, `concat along ${written} of ${parts.map((p) => `[${p.ref.shape}]`).join(', ')}`);
    }
    expect(() => concat([zeros([2, 3]), zeros([2, 4])], 0)).to.throw('concat: shapes must match except along axis 0: [2,3] vs [2,4]');
    expect(() => concat([])).to.throw('concat: needs at least one tensor');
  });

  it('concat backward hands each part its slice of the gradient', () => {
    const gen = new Generator(831);
    const parts = [[2, 1, 3], [2, 2, 3], [2, 3, 3]].map((s) => t(randomArr(gen, s)));
    expectGradOk('concat along 1', (a, b, c) => concat([a, b, c.permute(0, 1, 2)], 1), parts);
    expectGradOk('concat along -1 of transposed parts', (a, b) => concat([a.transpose(), b.transpose()], -1), [t(randomArr(gen, [2, 3])), t(randomArr(gen, [4, 3]))]);
  });

  it('split into equal pieces (the last smaller) or given sizes: views that concat back', () => {
    const gen = new Generator(832);
    const a = randomArr(gen, [3, 7, 2]);
    const x = t(a);
    const pieces = split(x, 3, 1);
    expect(pieces.map((p) => p.shape)).to.deep.equal([[3, 3, 2], [3, 3, 2], [3, 1, 2]]);
    [[0, 3], [3, 6], [6, 7]].forEach(([s, e], i) => expectTensor(pieces[i], refSlice(a, 1, s, e), 0, 0, `piece ${i}`));
    expect(pieces.every((p) => p.storage === x.storage), 'pieces are views').to.equal(true);
    expectTensor(concat(pieces, 1), a, 0, 0, 'concat(split(x)) == x');
    const sized = split(x, [1, 2], 0);
    expect(sized.map((p) => p.shape)).to.deep.equal([[1, 7, 2], [2, 7, 2]]);
    expectTensor(sized[1], refSlice(a, 0, 1, 3), 0, 0, 'sized piece');
    expectTensor(split(x, [1, 1], -1)[1], refSlice(a, 2, 1, 2), 0, 0, 'negative axis');
    expect(() => split(x, [1, 1], 0)).to.throw('split: sizes [1,1] add up to 2, but axis 0 of [3,7,2] has 3');
    expect(() => split(x, 0, 0)).to.throw('split: piece size must be a positive integer, got 0');
    expectGradOk('split pieces used differently', (p) => {
      const [u, v] = split(p, [2, 1], 0);
      return u.sum(0).mul(v.squeeze(0)).exp();
    }, [t(randomArr(gen, [3, 4]))]);
  });
});

forEachBackend('[unit 3: ops] softmax and logSoftmax', (bc) => {
  it('match the float64 formula along any axis, in every layout', () => {
    const gen = new Generator(840);
    for (let c = 0; c < 12; c++) {
      const shape = randomShape(gen, 1, 4, 5);
      const nd = shape.length;
      const axis = gen.randint(nd) - (gen.uniform() < 0.5 ? nd : 0);
      const layout = LAYOUTS[c % LAYOUTS.length];
      const { t: x, ref } = randomInput(gen, shape, layout, (s) => randomArr(gen, s, -4, 4));
      const what = `[${shape}] ${layout}, axis ${axis}`;
      expectTensor(x.softmax(axis), refSoftmax(ref, axis), bc.rtol, bc.rtol, `softmax ${what}`);
      expectTensor(x.logSoftmax(axis), refLogSoftmax(ref, axis), bc.rtol, 4 * bc.rtol, `logSoftmax ${what}`);
      const ax = (axis + nd) % nd;
      const ones = { data: new Array(sizeOf(shape) / shape[ax]).fill(1), shape: shape.filter((_, d) => d !== ax) };
      expectTensor(x.softmax(axis).sum(axis), ones, bc.rtol, shape[ax] * bc.rtol, `softmax sums to 1, ${what}`);
    }
  });

  it('are stable for inputs like 1000 (the max is subtracted first)', () => {
    const x = tensor([[1000, 0, -1000], [1000, 1000, 999], [-1000, -1000, -1000]]);
    const l = Math.log(2 + Math.exp(-1));
    expectClose(x.softmax(1).toArray(), [1, 0, 0, 1 / (2 + Math.exp(-1)), 1 / (2 + Math.exp(-1)), Math.exp(-1) / (2 + Math.exp(-1)), 1 / 3, 1 / 3, 1 / 3], bc.rtol, bc.rtol, 'softmax');
    expectClose(x.logSoftmax(1).toArray(), [0, -1000, -2000, -l, -l, -1 - l, -Math.log(3), -Math.log(3), -Math.log(3)], bc.rtol, bc.rtol, 'logSoftmax');
    expect(Array.from(x.softmax(0).toArray()).every(Number.isFinite)).to.equal(true);
  });

  it('backward matches central differences', () => {
    const gen = new Generator(841);
    const x = t(randomArr(gen, [3, 4], -2, 2));
    for (const axis of [0, 1, -1]) {
      expectGradOk(`softmax(${axis})`, (p) => p.softmax(axis), [x]);
      expectGradOk(`logSoftmax(${axis})`, (p) => p.logSoftmax(axis), [x]);
    }
    const y = t(randomArr(gen, [2, 3, 2], -2, 2));
    expectGradOk('softmax over the middle axis of a permuted view', (p) => p.permute(2, 0, 1).softmax(2), [y]);
    expectGradOk('logSoftmax of a permuted view', (p) => p.permute(1, 2, 0).logSoftmax(1), [y]);
  });
});

forEachBackend('[unit 3: ops] groupNorm and layerNorm', (bc) => {
  it('groupNorm matches the loop reference for 1, some and all groups, with and without affine', () => {
    const gen = new Generator(850);
    for (const groups of [1, 2, 4]) {
      for (const layout of LAYOUTS) {
        const { t: x, ref } = randomInput(gen, [2, 4, 3, 3], layout, (s) => randomArr(gen, s, -2, 3));
        const w = randomArr(gen, [4], 0.5, 1.5);
        const b = randomArr(gen, [4]);
        expectTensor(groupNorm(x, groups, t(w), t(b)), refGroupNorm(ref, groups, w, b), bc.rtol, 10 * bc.rtol, `groupNorm G=${groups} (${layout})`);
        expectTensor(groupNorm(x, groups), refGroupNorm(ref, groups, null, null), bc.rtol, 10 * bc.rtol, `groupNorm G=${groups} no affine (${layout})`);
      }
    }
    const flat = randomArr(gen, [3, 6]);
    expectTensor(groupNorm(t(flat), 3), refGroupNorm(flat, 3, null, null), bc.rtol, 10 * bc.rtol, 'groupNorm on [N, C]');
    const eps = randomArr(gen, [1, 2, 2, 2], -0.01, 0.01); // small variance: eps matters
    expectTensor(groupNorm(t(eps), 1, null, null, 1e-3), refGroupNorm(eps, 1, null, null, 1e-3), bc.rtol, 10 * bc.rtol, 'groupNorm with eps 1e-3');
  });

  it('groupNorm backward for input, weight and bias matches central differences', () => {
    const gen = new Generator(851);
    const x = t(randomArr(gen, [2, 4, 2, 2], -2, 2));
    const w = t(randomArr(gen, [4], 0.5, 1.5));
    const b = t(randomArr(gen, [4]));
    expectGradOk('groupNorm G=2', (p, q, r) => groupNorm(p, 2, q, r), [x, w, b]);
    expectGradOk('groupNorm G=1, no affine', (p) => groupNorm(p, 1), [x]);
  });

  it('groupNorm (one op, hand-written backward) equals groupNormComposed (autograd through its ops), values and all three gradients, on UNet-like sizes', () => {
    const gen = new Generator(854);
    // L = channels per group * positions: below and above the reductions' two-pass threshold (128)
    for (const [shape, groups] of [[[2, 6, 3, 3], 3], [[2, 8, 6, 6], 2], [[3, 16, 7, 7], 4]] as [number[], number][]) {
      const c = shape[1];
      const xa = randomArr(gen, shape, -2, 3);
      const wa = randomArr(gen, [c], 0.5, 1.5);
      const ba = randomArr(gen, [c]);
      const ga = randomArr(gen, shape);
      const run = (f: typeof groupNorm) => {
        const [x, w, b] = [xa, wa, ba].map((a) => t(a).requiresGrad_());
        const y = f(x, groups, w, b);
        y.mul(t(ga)).sum().backward();
        return [y, x.grad!, w.grad!, b.grad!].map((v) => v.toArray());
      };
      const [fused, composed] = [run(groupNorm), run(groupNormComposed)];
      ['y', 'dx', 'dweight', 'dbias'].forEach((name, i) => {
        const scale = Math.max(1, ...composed[i].map(Math.abs));
        fused[i].forEach((v, j) => expect(v, `${name} [${shape}] G=${groups} at ${j}`).to.be.closeTo(composed[i][j], 20 * bc.rtol * scale));
      });
    }
  });

  it('layerNorm matches the loop reference over the last one or two dims', () => {
    const gen = new Generator(852);
    for (const layout of LAYOUTS) {
      const { t: x, ref } = randomInput(gen, [3, 4, 5], layout, (s) => randomArr(gen, s, -2, 3));
      for (const normalized of [[5], [4, 5]]) {
        const w = randomArr(gen, normalized, 0.5, 1.5);
        const b = randomArr(gen, normalized);
        expectTensor(layerNorm(x, normalized, t(w), t(b)), refLayerNorm(ref, normalized.length, w, b), bc.rtol, 10 * bc.rtol, `layerNorm [${normalized}] (${layout})`);
        expectTensor(layerNorm(x, normalized), refLayerNorm(ref, normalized.length, null, null), bc.rtol, 10 * bc.rtol, `layerNorm [${normalized}] no affine (${layout})`);
      }
    }
  });

  it('layerNorm backward matches central differences', () => {
    const gen = new Generator(853);
    const x = t(randomArr(gen, [3, 4], -2, 2));
    expectGradOk('layerNorm [4]', (p, q, r) => layerNorm(p, [4], q, r), [x, t(randomArr(gen, [4], 0.5, 1.5)), t(randomArr(gen, [4]))]);
    const y = t(randomArr(gen, [2, 2, 3], -2, 2));
    expectGradOk('layerNorm [2, 3]', (p) => layerNorm(p, [2, 3]), [y]);
  });

  it('errors name the shapes', () => {
    expect(() => groupNorm(zeros([2, 6, 3, 3]), 4)).to.throw('groupNorm: 6 channels cannot be split into 4 groups (input [2,6,3,3])');
    expect(() => groupNorm(zeros([2, 4, 3]), 2, zeros([3]))).to.throw('groupNorm: weight must be [4], got [3]');
    expect(() => layerNorm(zeros([2, 3]), [4])).to.throw('layerNorm: normalized shape [4] does not match the trailing dims of [2,3]');
  });
});

forEachBackend('[unit 3: ops] losses', (bc) => {
  it('mseLoss is mean, sum or each of (pred - target)^2, with gradient 2 (pred - target) / n', () => {
    const gen = new Generator(860);
    const p = randomArr(gen, [3, 4]);
    const q = randomArr(gen, [3, 4]);
    const sq = p.data.map((v, i) => (v - q.data[i]) ** 2);
    const total = sq.reduce((s, v) => s + v, 0);
    expectClose(mseLoss(t(p), t(q)).item(), total / 12, bc.rtol, bc.rtol, 'mean');
    expectClose(mseLoss(t(p), t(q), 'sum').item(), total, bc.rtol, 12 * bc.rtol, 'sum');
    expectTensor(mseLoss(t(p), t(q), 'none'), { data: sq, shape: [3, 4] }, bc.rtol, bc.rtol, 'none');
    const pred = tensor(p.data, p.shape, { requiresGrad: true });
    mseLoss(pred, t(q)).backward();
    expectClose(pred.grad!.toArray(), p.data.map((v, i) => (2 * (v - q.data[i])) / 12), bc.rtol, bc.rtol, 'd/dpred');
    expectGradOk('mseLoss', (a, b) => mseLoss(a, b), [t(p), t(q)]);
    expect(() => mseLoss(zeros([2, 3]), zeros([3, 2]))).to.throw('mseLoss: prediction [2,3] and target [3,2] differ in shape');
    expect(() => mseLoss(zeros([2]), zeros([2]), 'avg' as any)).to.throw("mseLoss: reduction must be 'mean', 'sum' or 'none', got 'avg'");
  });

  it('crossEntropy is -log softmax(logits)[label], with gradient (softmax - onehot) / N', () => {
    const gen = new Generator(861);
    const logits = randomArr(gen, [4, 5], -3, 3);
    const labels = [0, 4, 2, 2];
    const nll = labels.map((y, i) => {
      const row = logits.data.slice(i * 5, i * 5 + 5);
      const m = Math.max(...row);
      return m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[y];
    });
    const total = nll.reduce((s, v) => s + v, 0);
    expectClose(crossEntropy(t(logits), labels).item(), total / 4, bc.rtol, bc.rtol, 'mean');
    expectClose(crossEntropy(t(logits), labels, 'sum').item(), total, bc.rtol, bc.rtol, 'sum');
    expectTensor(crossEntropy(t(logits), Int32Array.from(labels), 'none'), { data: nll, shape: [4] }, bc.rtol, bc.rtol, 'none');
    const z = tensor(logits.data, logits.shape, { requiresGrad: true });
    crossEntropy(z, labels).backward();
    const soft = refSoftmax(logits, 1).data;
    expectClose(z.grad!.toArray(), soft.map((s, i) => (s - (labels[Math.floor(i / 5)] === i % 5 ? 1 : 0)) / 4), bc.rtol, bc.rtol, 'd/dlogits');
    expectGradOk('crossEntropy', (a) => crossEntropy(a, labels), [t(logits)]);
  });

  it('crossEntropy is stable for large logits and checks its labels', () => {
    const big = tensor([[1000, 0], [0, 1000], [500, 500]]);
    expectClose(crossEntropy(big, [0, 0, 1], 'none').toArray(), [0, 1000, Math.LN2], bc.rtol, bc.rtol, 'large logits');
    expect(() => crossEntropy(big, [0, 2, 1])).to.throw('crossEntropy: label 2 at row 1 is not a class index in [0, 2)');
    expect(() => crossEntropy(big, [0, 1])).to.throw('crossEntropy: 2 labels for 3 rows of logits [3,2]');
    expect(() => crossEntropy(zeros([2, 3, 4]), [0, 1])).to.throw('crossEntropy: logits must be [N, C], got [2,3,4]');
    expect(maxAbs(crossEntropy(big, [1, 1, 0], 'none').toArray())).to.be.lessThan(1001);
  });
});
