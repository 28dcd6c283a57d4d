/**
 * Unit 4: modules and layers. Parameters and their dotted names, train/eval, state dicts
 * and their errors, summaries; the layers against plain loops; gradients through a ResBlock
 * and an attention block by central differences; two small networks that must learn.
 */
import { expect } from 'chai';
import { noGrad } from '../src/autograd';
import { fromArray, randn, tensor, zeros } from '../src/creation';
import { assertGradCheck } from '../src/gradcheck';
import {
  Conv2d, Dropout, GroupNorm, LayerNorm, Linear, Module, ModuleList, ResBlock, SelfAttention2d, Sequential, SiLU, SinusoidalEmbedding, Upsample,
  sinusoidalEmbedding,
} from '../src/nn';
import { crossEntropy, mseLoss } from '../src/ops';
import { Adam } from '../src/optim';
import { Generator } from '../src/random';
import { Tensor } from '../src/tensor';
import { forEachBackend } from './helpers/backends';

/** A two-level module tree for the bookkeeping tests. */
class Block extends Module {
  readonly lin: Linear;
  readonly scale: Tensor;
  constructor(g: Generator) {
    super();
    this.scale = this.registerParameter('scale', tensor([1, 1, 1]));
    this.lin = this.registerModule('lin', new Linear(3, 3, { generator: g }));
  }
  forward(x: Tensor): Tensor {
    return this.lin.forward(x).mul(this.scale);
  }
}
class Net extends Module {
  readonly a: Block;
  readonly b: Block;
  readonly drop: Dropout;
  constructor(seed = 0) {
    super();
    const g = new Generator(seed);
    this.a = this.registerModule('a', new Block(g));
    this.b = this.registerModule('b', new Block(g));
    this.drop = this.registerModule('drop', new Dropout(0.5));
  }
  forward(x: Tensor): Tensor {
    return this.b.forward(this.drop.forward(this.a.forward(x).silu()));
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * Central differences on parameters: gradCheck differentiates with respect to inputs, so
 * for parameters we move each sampled element by +-h with assign_ and watch the loss.
 */
function checkParamGrads(module: Module, loss: () => Tensor, opts: { h?: number; perParam?: number; tol?: number } = {}): number {
  const { h = 1e-2, perParam = 3, tol = 2e-2 } = opts;
  const g = new Generator(7);
  module.zeroGrad();
  loss().backward();
  let worst = 0;
  for (const [name, p] of module.namedParameters()) {
    const analytic = p.grad!.toArray();
    const base = p.toArray();
    for (let k = 0; k < Math.min(perParam, p.size); k++) {
      const i = g.randint(p.size);
      const at = (delta: number) => {
        const moved = Float32Array.from(base);
        moved[i] += delta;
        p.assign_(fromArray(moved, p.shape));
        return noGrad(() => loss().item());
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      p.assign_(fromArray(base, p.shape));
      const err = Math.abs(numeric - analytic[i]);
      worst = Math.max(worst, err / (1 + Math.abs(numeric)));
      expect(err, `${name}[${i}]: analytic ${analytic[i]} vs numeric ${numeric}`).to.be.at.most(tol * (1 + Math.abs(numeric)));
    }
  }
  return worst;
}

describe('[unit 4: nn] Module bookkeeping', () => {
  it('names parameters by their dotted path, own parameters first, in registration order', () => {
    const net = new Net();
    expect(net.namedParameters().map(([n]) => n)).to.deep.equal(['a.scale', 'a.lin.weight', 'a.lin.bias', 'b.scale', 'b.lin.weight', 'b.lin.bias']);
    expect(net.parameters()).to.have.length(6);
    expect(net.numParameters()).to.equal(2 * (3 + 9 + 3));
    expect(net.parameters().every((p) => p.requiresGrad)).to.equal(true);
    expect(net.namedModules().map(([n]) => n)).to.deep.equal(['', 'a', 'a.lin', 'b', 'b.lin', 'drop']);
    expect(net.getModule('b.lin')).to.equal(net.b.lin);
    expect(() => net.getModule('b.nope')).to.throw(/no module 'b.nope'/);
  });

  it('refuses duplicate and dotted names', () => {
    const m = new Module();
    m.registerParameter('w', zeros([2]));
    expect(() => m.registerParameter('w', zeros([2]))).to.throw(/already has .* 'w'/);
    expect(() => m.registerModule('w', new SiLU())).to.throw(/already has/);
    expect(() => m.registerModule('a.b', new SiLU())).to.throw(/without dots/);
    expect(() => m.forward()).to.throw(/no forward/);
  });

  it('train() and eval() reach every sub-module; zeroGrad clears every gradient', () => {
    const net = new Net();
    expect(net.training).to.equal(true);
    net.eval();
    expect(net.namedModules().every(([, m]) => !m.training)).to.equal(true);
    net.train();
    expect(net.drop.training).to.equal(true);
    net.forward(randn([2, 3])).sum().backward();
    expect(net.parameters().every((p) => p.grad !== null)).to.equal(true);
    net.zeroGrad();
    expect(net.parameters().every((p) => p.grad === null)).to.equal(true);
  });

  it('stateDict -> loadStateDict copies the values into the same parameter objects', () => {
    const src = new Net(1);
    const dst = new Net(2);
    const before = dst.parameters();
    expect(maxAbsDiff(src.a.lin.weight.toArray(), dst.a.lin.weight.toArray())).to.be.greaterThan(0);
    const res = dst.loadStateDict(src.stateDict());
    expect(res).to.deep.equal({ missingKeys: [], unexpectedKeys: [] });
    dst.parameters().forEach((p, i) => expect(p).to.equal(before[i]));
    for (const [name, p] of src.namedParameters()) {
      expect(Array.from(dst.stateDict()[name].toArray()), name).to.deep.equal(Array.from(p.toArray()));
    }
  });

  it('loadStateDict names missing and unexpected keys and both shapes of a mismatch, and changes nothing then', () => {
    const net = new Net();
    const good = net.stateDict();
    const w0 = Array.from(net.a.lin.weight.toArray());
    const { ['b.lin.bias']: _dropped, ...missing } = good;
    expect(() => net.loadStateDict(missing)).to.throw(/missing keys \(1\): b\.lin\.bias/);
    expect(() => net.loadStateDict({ ...good, 'c.weight': zeros([1]) })).to.throw(/unexpected keys \(1\): c\.weight/);
    expect(() => net.loadStateDict({ ...good, 'a.lin.weight': zeros([3, 4]) })).to.throw(/shape mismatch for 'a\.lin\.weight': \[3, 4\] in the state dict, \[3, 3\] in the model/);
    expect(Array.from(net.a.lin.weight.toArray())).to.deep.equal(w0);
    // not strict: load what fits, report the rest
    const res = net.loadStateDict({ 'a.scale': tensor([2, 2, 2]), extra: zeros([1]) }, { strict: false });
    expect(res.unexpectedKeys).to.deep.equal(['extra']);
    expect(res.missingKeys).to.have.length(5);
    expect(Array.from(net.a.scale.toArray())).to.deep.equal([2, 2, 2]);
  });

  it('ModuleList and Sequential name their items 0, 1, ...', () => {
    const seq = new Sequential(new Linear(2, 4), new SiLU(), new Linear(4, 1));
    expect(seq.namedParameters().map(([n]) => n)).to.deep.equal(['0.weight', '0.bias', '2.weight', '2.bias']);
    expect(seq.forward(randn([5, 2])).shape).to.deep.equal([5, 1]);
    const list = new ModuleList([new SiLU()]).append(new Upsample(2));
    expect(list.length).to.equal(2);
    expect(list.at(-1)).to.be.instanceOf(Upsample);
    expect([...list].map((m) => m.constructor.name)).to.deep.equal(['SiLU', 'Upsample']);
    expect(() => list.at(5)).to.throw(/out of range/);
  });

  it('summary prints a table of layers, output shapes and parameter counts, and leaves the module as it was', () => {
    const net = new Sequential(new Conv2d(1, 8, 3, { padding: 1 }), new SiLU(), new Conv2d(8, 4, 3, { stride: 2, padding: 1 }), new Dropout(0.5));
    const logged: string[] = [];
    const log = console.log;
    console.log = (s: string) => logged.push(s);
    let text: string;
    try {
      text = net.summary([2, 1, 8, 8]);
    } finally {
      console.log = log;
    }
    expect(logged).to.deep.equal([text]);
    const lines = text.split('\n');
    expect(lines[0]).to.equal('Sequential summary, input [2, 1, 8, 8]');
    expect(lines.find((l) => l.startsWith('0 (Conv2d)'))).to.match(/\[2, 8, 8, 8\]\s+80$/);
    expect(lines.find((l) => l.startsWith('2 (Conv2d)'))).to.match(/\[2, 4, 4, 4\]\s+292$/);
    expect(text).to.contain('Total params: 372');
    expect(text).to.contain('Trainable params: 372');
    expect(net.training).to.equal(true); // restored after the eval-mode pass
    expect(Object.getOwnPropertyNames(net.at(0))).to.not.include('forward'); // hooks removed
  });
});

forEachBackend('[unit 4: nn] layers', () => {
  it('Linear computes x W^T + b and is initialised in U(-1/sqrt(in), 1/sqrt(in)) from the generator', () => {
    const lin = new Linear(20, 30, { generator: new Generator(3) });
    expect(lin.weight.shape).to.deep.equal([30, 20]);
    expect(lin.bias!.shape).to.deep.equal([30]);
    const bound = 1 / Math.sqrt(20);
    const w = lin.weight.toArray();
    expect(Math.max(...w.map(Math.abs))).to.be.at.most(bound);
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    expect(std).to.be.closeTo(bound / Math.sqrt(3), 0.1 * bound); // the std of U(-b, b)
    expect(Math.max(...lin.bias!.toArray().map(Math.abs))).to.be.at.most(bound);
    // the same seed gives the same layer
    expect(Array.from(new Linear(20, 30, { generator: new Generator(3) }).weight.toArray())).to.deep.equal(Array.from(w));

    const small = new Linear(3, 2);
    small.loadStateDict({ weight: tensor([[1, 2, 3], [4, 5, 6]]), bias: tensor([0.5, -1]) });
    expect(Array.from(small.forward(tensor([[1, 0, -1], [2, 1, 0]])).toArray())).to.deep.equal([-1.5, -3, 4.5, 12]);
    expect(() => small.forward(zeros([2, 4]))).to.throw(/last dim must be 3/);
    expect(new Linear(3, 2, { bias: false }).namedParameters().map(([n]) => n)).to.deep.equal(['weight']);
  });

  it('Conv2d has weight [cout, cin, k, k], PyTorch bounds from fan_in = cin*k*k, and applies stride and padding', () => {
    const conv = new Conv2d(3, 5, 3, { stride: 2, padding: 1, generator: new Generator(1) });
    expect(conv.weight.shape).to.deep.equal([5, 3, 3, 3]);
    expect(Math.max(...conv.weight.toArray().map(Math.abs))).to.be.at.most(1 / Math.sqrt(27));
    expect(conv.forward(randn([2, 3, 7, 7])).shape).to.deep.equal([2, 5, 4, 4]);
    // a 1x1 conv with identity weight and a bias adds the bias per channel
    const one = new Conv2d(2, 2, 1);
    one.loadStateDict({ weight: tensor([1, 0, 0, 1], [2, 2, 1, 1]), bias: tensor([10, 20]) });
    expect(Array.from(one.forward(tensor([1, 2, 3, 4], [1, 2, 1, 2])).toArray())).to.deep.equal([11, 12, 23, 24]);
  });

  it('GroupNorm and LayerNorm start as weight 1, bias 0 and normalise', () => {
    const gn = new GroupNorm(2, 4);
    expect(Array.from(gn.weight!.toArray())).to.deep.equal([1, 1, 1, 1]);
    expect(Array.from(gn.bias!.toArray())).to.deep.equal([0, 0, 0, 0]);
    const y = gn.forward(randn([2, 4, 3, 3])).reshape([2, 2, 18]);
    for (const v of y.mean(2).toArray()) expect(v).to.be.closeTo(0, 1e-5);
    for (const v of y.var(2, false, 0).toArray()) expect(v).to.be.closeTo(1, 1e-3);
    expect(() => new GroupNorm(3, 4)).to.throw(/cannot be split into 3 groups/);
    const ln = new LayerNorm(6);
    const z = ln.forward(randn([4, 6]));
    for (const v of z.mean(1).toArray()) expect(v).to.be.closeTo(0, 1e-5);
  });

  it('Dropout is seeded in training, the identity in eval, and keeps the mean by scaling by 1/(1-p)', () => {
    const x = randn([4000]).abs().add(1);
    const d1 = new Dropout(0.25, { generator: new Generator(5) });
    const d2 = new Dropout(0.25, { generator: new Generator(5) });
    const y1 = d1.forward(x).toArray();
    expect(Array.from(d2.forward(x).toArray())).to.deep.equal(Array.from(y1));
    const xs = x.toArray();
    let zerosCount = 0;
    y1.forEach((v, i) => {
      if (v === 0) zerosCount++;
      else expect(v).to.be.closeTo(xs[i] / 0.75, 1e-5);
    });
    expect(zerosCount / 4000).to.be.closeTo(0.25, 0.03);
    d1.eval();
    expect(d1.forward(x)).to.equal(x);
  });

  it('Upsample repeats pixels; SiLU is x*sigmoid(x)', () => {
    const up = new Upsample(2).forward(tensor([1, 2, 3, 4], [1, 1, 2, 2]));
    expect(Array.from(up.toArray())).to.deep.equal([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    expect(new SiLU().forward(tensor([0, 2])).toArray()[1]).to.be.closeTo(2 / (1 + Math.exp(-2)), 1e-6);
  });

  it('sinusoidal time embedding: [sin(t f_i), cos(t f_i)] with f_i = exp(-ln(10000) i / half)', () => {
    const t = tensor([0, 3, 500]);
    const e = sinusoidalEmbedding(t, 8);
    expect(e.shape).to.deep.equal([3, 8]);
    const got = e.toArray();
    [0, 3, 500].forEach((tv, b) => {
      for (let i = 0; i < 4; i++) {
        const f = Math.exp((-Math.log(10000) * i) / 4);
        expect(got[b * 8 + i]).to.be.closeTo(Math.sin(tv * f), 1e-6);
        expect(got[b * 8 + 4 + i]).to.be.closeTo(Math.cos(tv * f), 1e-6);
      }
    });
    expect(new SinusoidalEmbedding(8).forward(t).shape).to.deep.equal([3, 8]);
    expect(() => sinusoidalEmbedding(t, 7)).to.throw(/even/);
  });

  it('SelfAttention2d matches attention written as loops, and adds the input back', () => {
    const c = 4;
    const attn = new SelfAttention2d(c, { groups: 2, generator: new Generator(2) });
    const x = randn([1, c, 2, 3]);
    const out = attn.forward(x).toArray();
    // reference: the same projections read from the layers, then plain loops for q k^T, softmax, v
    const n = attn.norm.forward(x);
    const [q, k, v] = [attn.q, attn.k, attn.v].map((conv) => conv.forward(n).toArray());
    const N = 6;
    const mixed = new Float64Array(c * N);
    for (let i = 0; i < N; i++) {
      const logits = Array.from({ length: N }, (_, j) => {
        let s = 0;
        for (let ch = 0; ch < c; ch++) s += q[ch * N + i] * k[ch * N + j];
        return s / Math.sqrt(c);
      });
      const mx = Math.max(...logits);
      const w = logits.map((l) => Math.exp(l - mx));
      const z = w.reduce((a, b) => a + b, 0);
      for (let ch = 0; ch < c; ch++) for (let j = 0; j < N; j++) mixed[ch * N + i] += (w[j] / z) * v[ch * N + j];
    }
    const projected = attn.proj.forward(fromArray(Float32Array.from(mixed), [1, c, 2, 3])).toArray();
    const xs = x.toArray();
    const expected = projected.map((p, i) => p + xs[i]);
    expect(maxAbsDiff(out, expected)).to.be.below(1e-5);
  });
});

forEachBackend('[unit 4: nn] gradients through the UNet blocks', () => {
  it('ResBlock (with a 1x1 skip): input, time embedding and every parameter pass central differences', () => {
    const block = new ResBlock(4, 8, 6, { groups: 2, generator: new Generator(11) });
    expect(block.namedParameters().map(([n]) => n)).to.deep.equal([
      'norm1.weight', 'norm1.bias', 'conv1.weight', 'conv1.bias', 'temb.weight', 'temb.bias',
      'norm2.weight', 'norm2.bias', 'conv2.weight', 'conv2.bias', 'skip.weight', 'skip.bias',
    ]);
    const x = randn([2, 4, 3, 3]);
    const e = randn([2, 6]);
    assertGradCheck((x, e) => block.forward(x, e), [x, e], { maxElements: 20 });
    const r = randn([2, 8, 3, 3]);
    checkParamGrads(block, () => block.forward(x, e).mul(r).sum());
  });

  it('ResBlock without skip conv (cin = cout) is identity plus the residual branch', () => {
    const block = new ResBlock(4, 4, 3, { groups: 2 });
    expect(block.skip).to.equal(null);
    expect(block.namedParameters().some(([n]) => n.startsWith('skip'))).to.equal(false);
    assertGradCheck((x, e) => block.forward(x, e), [randn([1, 4, 2, 2]), randn([1, 3])], { maxElements: 12 });
  });

  it('SelfAttention2d: input and every parameter pass central differences', () => {
    const attn = new SelfAttention2d(4, { groups: 2, generator: new Generator(12) });
    const x = randn([2, 4, 2, 3]);
    assertGradCheck((x) => attn.forward(x), [x], { maxElements: 24 });
    const r = randn([2, 4, 2, 3]);
    checkParamGrads(attn, () => attn.forward(x).mul(r).sum());
  });
});

forEachBackend('[unit 4: nn] small networks learn', () => {
  it('an MLP learns XOR (loss < 0.01)', () => {
    const g = new Generator(0);
    const mlp = new Sequential(new Linear(2, 16, { generator: g }), new SiLU(), new Linear(16, 1, { generator: g }));
    const x = tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
    const y = tensor([[0], [1], [1], [0]]);
    const opt = new Adam(mlp.namedParameters(), { lr: 0.05 });
    let loss = Infinity;
    for (let step = 0; step < 400 && loss >= 0.01; step++) {
      opt.zeroGrad();
      const l = mseLoss(mlp.forward(x), y);
      l.backward();
      opt.step();
      loss = l.item();
    }
    expect(loss).to.be.below(0.01);
    const pred = noGrad(() => mlp.forward(x)).toArray();
    expect(Array.from(pred).map((v) => (v > 0.5 ? 1 : 0))).to.deep.equal([0, 1, 1, 0]);
  });

  it('a small CNN overfits one batch (cross-entropy falls below a fifth of its start)', () => {
    const g = new Generator(1);
    const cnn = new Sequential(
      new Conv2d(1, 6, 3, { padding: 1, generator: g }),
      new GroupNorm(2, 6),
      new SiLU(),
      new Conv2d(6, 6, 3, { stride: 2, padding: 1, generator: g }),
      new SiLU(),
    );
    const head = new Linear(6 * 4 * 4, 3, { generator: g });
    const x = randn([6, 1, 8, 8], { generator: g });
    const labels = [0, 1, 2, 0, 1, 2];
    const params = [...cnn.parameters(), ...head.parameters()];
    const opt = new Adam(params, { lr: 0.01 });
    const lossAt = () => crossEntropy(head.forward(cnn.forward(x).reshape([6, -1])), labels);
    const first = lossAt().item();
    let last = first;
    for (let step = 0; step < 40; step++) {
      opt.zeroGrad();
      const l = lossAt();
      l.backward();
      opt.step();
      last = l.item();
    }
    expect(last).to.be.below(first / 5);
  });
});
