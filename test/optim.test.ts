/**
 * Unit 4: optimizers. Each update rule against its formula worked out by hand in float64
 * (Adam with bias correction, AdamW's decoupled decay, SGD with momentum and Nesterov),
 * gradient clipping, learning-rate schedules, the EMA of the weights and its warmup, and
 * state dicts that restore a run exactly.
 */
import { expect } from 'chai';
import { tensor, zeros } from '../src/creation';
import { Linear, Module } from '../src/nn';
import { Adam, AdamW, EMA, SGD, clipGradNorm, lrSchedule, warmupConstant, warmupCosine } from '../src/optim';
import { Tensor } from '../src/tensor';
import { forEachBackend } from './helpers/backends';

/** A float32 result against a float64 formula. */
function expectNear(actual: ArrayLike<number>, expected: number[], tol = 1e-6, what = '') {
  expect(actual.length, what).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(actual[i], `${what}[${i}]`).to.be.closeTo(expected[i], tol * Math.max(1, Math.abs(expected[i])));
  }
}

const param = (values: number[]) => tensor(values).requiresGrad_();
const setGrad = (p: Tensor, g: number[]) => (p.grad = tensor(g));

/** A module holding one given parameter, for the EMA. */
class One extends Module {
  readonly w: Tensor;
  constructor(values: number[]) {
    super();
    this.w = this.registerParameter('w', tensor(values));
  }
}

forEachBackend('[unit 4: optim] update rules', () => {
  it('Adam: the first three steps match Algorithm 1 of Kingma & Ba worked out by hand', () => {
    const [lr, b1, b2, eps] = [0.1, 0.9, 0.999, 1e-8];
    const p = param([1, -2, 0.5]);
    const opt = new Adam([p], { lr, betas: [b1, b2], eps });
    const grads = [[0.5, -1, 0], [0.1, 0.3, 2], [-0.2, 0.4, -1]];
    // by hand: m_t, v_t, then p -= lr * (m_t / (1 - b1^t)) / (sqrt(v_t / (1 - b2^t)) + eps)
    let w = [1, -2, 0.5];
    let m = [0, 0, 0];
    let v = [0, 0, 0];
    grads.forEach((g, k) => {
      const t = k + 1;
      m = m.map((mi, i) => b1 * mi + (1 - b1) * g[i]);
      v = v.map((vi, i) => b2 * vi + (1 - b2) * g[i] * g[i]);
      w = w.map((wi, i) => wi - (lr * (m[i] / (1 - b1 ** t))) / (Math.sqrt(v[i] / (1 - b2 ** t)) + eps));
      setGrad(p, g);
      opt.step();
      expectNear(p.toArray(), w, 1e-6, `step ${t}`);
    });
    // the very first step moves each weight by lr * sign(g): m_hat / sqrt(v_hat) = g / |g|
    const q = param([3]);
    const o2 = new Adam([q], { lr: 0.01 });
    setGrad(q, [-42]);
    o2.step();
    expectNear(q.toArray(), [3.01], 1e-6, 'first step');
    expect(opt.stepCount).to.equal(3);
    const state = opt.stateDict();
    expectNear(state.tensors['m.0'].toArray(), m, 1e-6, 'm');
    expectNear(state.tensors['v.0'].toArray(), v, 1e-6, 'v');
  });

  it('Adam with weightDecay adds wd * p to the gradient (L2); AdamW shrinks p by lr * wd * p (decoupled)', () => {
    const [lr, wd] = [0.1, 0.5];
    // zero gradient: Adam-L2 still moves by lr * sign(p) (its gradient is wd * p) ...
    const a = param([2, -4]);
    const adam = new Adam([a], { lr, weightDecay: wd });
    setGrad(a, [0, 0]);
    adam.step();
    expectNear(a.toArray(), [2 - lr, -4 + lr], 1e-6, 'Adam L2');
    // ... while AdamW only decays: p (1 - lr wd), since m = v = 0 gives a zero Adam step
    const b = param([2, -4]);
    const adamw = new AdamW([b], { lr, weightDecay: wd });
    setGrad(b, [0, 0]);
    adamw.step();
    expectNear(b.toArray(), [2 * (1 - lr * wd), -4 * (1 - lr * wd)], 1e-7, 'AdamW decay');
    // with a gradient: p (1 - lr wd) - lr g / (|g| + eps) on the first step
    const c = param([1]);
    const w2 = new AdamW([c], { lr, weightDecay: wd });
    setGrad(c, [0.3]);
    w2.step();
    expectNear(c.toArray(), [1 * (1 - lr * wd) - lr], 1e-6, 'AdamW step');
    expect(new AdamW([param([1])]).weightDecay).to.equal(0.01); // PyTorch's default
  });

  it('SGD: plain, with momentum (b = m b + g) and with Nesterov (g + m b)', () => {
    const [lr, mom] = [0.1, 0.9];
    const g = [1, -2];
    const plain = param([0, 0]);
    const sgd = new SGD([plain], { lr });
    setGrad(plain, g);
    sgd.step();
    expectNear(plain.toArray(), [-0.1, 0.2], 1e-7, 'plain');

    const p = param([0, 0]);
    const heavy = new SGD([p], { lr, momentum: mom });
    const n = param([0, 0]);
    const nesterov = new SGD([n], { lr, momentum: mom, nesterov: true });
    let b = [0, 0];
    let wp = [0, 0];
    let wn = [0, 0];
    for (let t = 0; t < 3; t++) {
      b = t === 0 ? g.slice() : b.map((bi, i) => mom * bi + g[i]);
      wp = wp.map((w, i) => w - lr * b[i]);
      wn = wn.map((w, i) => w - lr * (g[i] + mom * b[i]));
      setGrad(p, g);
      setGrad(n, g);
      heavy.step();
      nesterov.step();
      expectNear(p.toArray(), wp, 1e-6, `momentum step ${t + 1}`);
      expectNear(n.toArray(), wn, 1e-6, `nesterov step ${t + 1}`);
    }
    // weight decay: g + wd * p
    const d = param([2]);
    const decayed = new SGD([d], { lr, weightDecay: 0.5 });
    setGrad(d, [1]);
    decayed.step();
    expectNear(d.toArray(), [2 - lr * (1 + 0.5 * 2)], 1e-7, 'weight decay');
  });

  it('a parameter without a gradient is left alone; the parameter object stays the same', () => {
    const a = param([1]);
    const b = param([1]);
    const opt = new Adam([a, b], { lr: 0.1 });
    setGrad(a, [1]);
    opt.step();
    expect(a.toArray()[0]).to.be.closeTo(0.9, 1e-6);
    expect(b.toArray()[0]).to.equal(1);
    expect(opt.params[0]).to.equal(a);
    opt.zeroGrad();
    expect(a.grad).to.equal(null);
  });

  it('clipGradNorm returns the global norm and scales the gradients down to maxNorm only when above it', () => {
    const a = param([0, 0]);
    const b = param([0]);
    setGrad(a, [3, 4]);
    setGrad(b, [12]);
    expect(clipGradNorm([a, b], 100)).to.be.closeTo(13, 1e-5);
    expect(Array.from(a.grad!.toArray())).to.deep.equal([3, 4]); // under the limit: untouched
    expect(clipGradNorm([a, b], 6.5)).to.be.closeTo(13, 1e-5);
    const s = 6.5 / (13 + 1e-6);
    expectNear(a.grad!.toArray(), [3 * s, 4 * s], 1e-6);
    expectNear(b.grad!.toArray(), [12 * s], 1e-6);
    const clippedNorm = Math.hypot(...a.grad!.toArray(), ...b.grad!.toArray());
    expect(clippedNorm).to.be.closeTo(6.5, 1e-5);
    expect(clipGradNorm([param([1])], 1)).to.equal(0); // no gradients at all
    expect(() => clipGradNorm([a], 0)).to.throw(/maxNorm must be > 0/);
  });
});

describe('[unit 4: optim] learning-rate schedules', () => {
  it('linear warmup to the peak, then constant', () => {
    const s = warmupConstant(1e-3, 4);
    expect([0, 1, 2, 3, 4, 100].map(s)).to.deep.equal([0.25e-3, 0.5e-3, 0.75e-3, 1e-3, 1e-3, 1e-3]);
    expect(lrSchedule({ lr: 2e-4 })(0)).to.equal(2e-4);
  });

  it('warmup then cosine decay to minLr at totalSteps, flat after', () => {
    const s = warmupCosine(1, 2, 12, 0.1);
    expect(s(0)).to.equal(0.5);
    expect(s(1)).to.equal(1);
    expect(s(2)).to.equal(1); // decay starts at the peak
    expect(s(7)).to.be.closeTo(0.1 + 0.9 * 0.5, 1e-12); // half way: cos(pi/2) = 0
    expect(s(12)).to.be.closeTo(0.1, 1e-12);
    expect(s(50)).to.be.closeTo(0.1, 1e-12);
    expect(() => lrSchedule({ lr: 1, decay: 'cosine' })).to.throw(/totalSteps/);
  });
});

forEachBackend('[unit 4: optim] EMA of the weights', () => {
  it('warmup: decay_t = min(decay, (1 + t) / (10 + t)), and the average follows the formula', () => {
    const model = new One([0, 10]);
    const ema = new EMA(model, { decay: 0.9 });
    expect(ema.decayAt(1)).to.be.closeTo(2 / 11, 1e-15);
    expect(ema.decayAt(2)).to.be.closeTo(3 / 12, 1e-15);
    expect(ema.decayAt(80)).to.be.closeTo(81 / 90, 1e-15); // = 0.9
    expect(ema.decayAt(1000)).to.equal(0.9);
    expect(new EMA(model, { decay: 0.9, warmup: false }).decayAt(1)).to.equal(0.9);

    let shadow = [0, 10];
    for (let t = 1; t <= 3; t++) {
      const w = [t, 10 - 2 * t];
      model.w.assign_(tensor(w));
      const d = ema.update(model);
      expect(d).to.be.closeTo((1 + t) / (10 + t), 1e-15);
      shadow = shadow.map((s, i) => d * s + (1 - d) * w[i]);
      expectNear(ema.shadow.get('w')!.toArray(), shadow, 1e-6, `update ${t}`);
    }
    expect(ema.numUpdates).to.equal(3);
  });

  it('copyTo writes the average into a model; store/restore swap it in and out for evaluation', () => {
    const model = new One([1, 2]);
    const ema = new EMA(model, { decay: 0.5, warmup: false });
    model.w.assign_(tensor([3, 4]));
    ema.update(model); // shadow = [2, 3]
    const sampler = new One([0, 0]);
    ema.copyTo(sampler);
    expect(Array.from(sampler.w.toArray())).to.deep.equal([2, 3]);
    ema.store(model);
    ema.copyTo(model);
    expect(Array.from(model.w.toArray())).to.deep.equal([2, 3]);
    ema.restore(model);
    expect(Array.from(model.w.toArray())).to.deep.equal([3, 4]);
    expect(() => ema.restore(model)).to.throw(/nothing stored/);
    expect(() => ema.copyTo(new One([1, 2, 3]))).to.throw(/shape mismatch for 'w'/);
  });

  it('state dicts restore EMA and optimizers so that the next steps are identical', () => {
    const run = (split: boolean) => {
      const model = new Linear(3, 2);
      model.loadStateDict({ weight: tensor([[1, 2, 3], [4, 5, 6]]), bias: tensor([0, 1]) });
      let opt = new Adam(model.namedParameters(), { lr: 0.01 });
      let ema = new EMA(model, { decay: 0.99 });
      const x = tensor([[1, -1, 2]]);
      for (let step = 0; step < 4; step++) {
        if (split && step === 2) {
          const [o, e] = [opt.stateDict(), ema.stateDict()];
          opt = new Adam(model.namedParameters(), { lr: 123 });
          ema = new EMA(model);
          opt.loadStateDict(o);
          ema.loadStateDict(e);
        }
        opt.zeroGrad();
        model.forward(x).square().sum().backward();
        opt.step();
        ema.update(model);
      }
      return [...model.weight.toArray(), ...ema.shadow.get('weight')!.toArray(), opt.lr, opt.stepCount];
    };
    expect(run(true)).to.deep.equal(run(false));
    const opt = new Adam([param([1, 2])]);
    expect(() => opt.loadStateDict({ type: 'SGD', step: 0, hyperparameters: {}, tensors: {} })).to.throw(/from a SGD optimizer, not Adam/);
    expect(() => opt.loadStateDict({ type: 'Adam', step: 1, hyperparameters: {}, tensors: { 'm.0': zeros([3]) } })).to.throw(/shape mismatch for 'm.0'/);
    expect(() => opt.loadStateDict({ type: 'Adam', step: 1, hyperparameters: {}, tensors: { 'm.7': zeros([2]) } })).to.throw(/'m.7' belongs to no parameter/);
  });
});
