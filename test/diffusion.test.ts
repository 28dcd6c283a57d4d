/**
 * [unit 5: diffusion] The schedule against closed forms, the forward process's statistics,
 * and the DDPM / DDIM steps driven by a closed-form dummy model, whose outputs are computed
 * here independently from the paper's formulas in float64.
 */
import { expect } from 'chai';
import { tensor, randn, Generator } from '../src';
import { NoiseSchedule, addNoise, DdpmSampler, DdimSampler, DpmSolverSampler, sample, diffusionLoss } from '../src/diffusion';
import { asNoisePredictor, epsFromOutput, guidedPredictor, lossWeights, predictionTarget, weightedMse } from '../src/diffusion/objective';
import type { Tensor } from '../src';

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) {
  expect(actual.length, what).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (err > tol * (1 + Math.abs(expected[i]))) throw new Error(`${what}: index ${i}: ${actual[i]} vs expected ${expected[i]}`);
  }
}

describe('[unit 5: diffusion] noise schedule', () => {
  it('linear betas run from 1e-4 to 0.02 and alphasCumprod is the running product', () => {
    const s = new NoiseSchedule();
    expect(s.T).to.equal(1000);
    expect(s.betas[0]).to.be.closeTo(1e-4, 1e-12);
    expect(s.betas[999]).to.be.closeTo(0.02, 1e-12);
    expect(s.betas[500] - s.betas[499]).to.be.closeTo((0.02 - 1e-4) / 999, 1e-12);
    let prod = 1;
    for (let t = 0; t < 1000; t++) {
      prod *= 1 - (1e-4 + ((0.02 - 1e-4) * t) / 999);
      if (t % 97 === 0 || t === 999) expect(s.alphasCumprod[t]).to.be.closeTo(prod, 1e-12);
    }
    // the end of the forward process is almost pure noise: alphaBar_T ~ 4e-5 for this schedule
    expect(s.alphasCumprod[999]).to.be.within(3e-5, 5e-5);
  });

  it('posterior variance and mean coefficients match eq. 7', () => {
    const s = new NoiseSchedule({ numTimesteps: 50 });
    expect(s.posteriorVariance[0]).to.equal(0); // (1 - abar_{-1}) = 0: no noise in the last step
    for (const t of [1, 10, 49]) {
      const abar = s.alphasCumprod[t];
      const abarPrev = s.alphasCumprod[t - 1];
      const beta = s.betas[t];
      expect(s.alphasCumprodPrev[t]).to.equal(abarPrev);
      expect(s.posteriorVariance[t]).to.be.closeTo(((1 - abarPrev) / (1 - abar)) * beta, 1e-15);
      expect(s.posteriorMeanCoef1[t]).to.be.closeTo((Math.sqrt(abarPrev) * beta) / (1 - abar), 1e-15);
      expect(s.posteriorMeanCoef2[t]).to.be.closeTo((Math.sqrt(1 - beta) * (1 - abarPrev)) / (1 - abar), 1e-15);
      // beta~_t lies between 0 and beta_t
      expect(s.posteriorVariance[t]).to.be.within(0, beta);
    }
  });

  it('the cosine schedule follows alphaBar(t) = f(t+1)/f(0) (Nichol & Dhariwal eq. 17)', () => {
    const T = 100;
    const s = new NoiseSchedule({ numTimesteps: T, schedule: 'cosine' });
    const f = (t: number) => Math.cos(((t / T + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    for (const t of [0, 10, 50, 90]) expect(s.alphasCumprod[t]).to.be.closeTo(f(t + 1) / f(0), 1e-12);
    expect(Math.max(...s.betas)).to.be.at.most(0.999);
  });

  it('rejects bad configurations with clear messages', () => {
    expect(() => new NoiseSchedule({ numTimesteps: 0 })).to.throw(/numTimesteps must be a positive integer/);
    expect(() => new NoiseSchedule({ schedule: 'quadratic' as never })).to.throw(/schedule must be 'linear' or 'cosine'/);
    expect(() => new NoiseSchedule({ betaStart: 0.1, betaEnd: 0.01 })).to.throw(/betaStart <= betaEnd/);
  });
});

describe('[unit 5: diffusion] forward process q(x_t | x_0)', () => {
  it('addNoise is sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, per image', () => {
    const s = new NoiseSchedule();
    const x0 = randn([3, 1, 2, 2]);
    const noise = randn([3, 1, 2, 2]);
    const t = [0, 400, 999];
    const xt = addNoise(s, x0, noise, t).toArray();
    const a = x0.toArray();
    const n = noise.toArray();
    const expected = Array.from(a, (v, i) => {
      const ti = t[Math.floor(i / 4)];
      return Math.sqrt(s.alphasCumprod[ti]) * v + Math.sqrt(1 - s.alphasCumprod[ti]) * n[i];
    });
    close(xt, expected, 1e-6, 'x_t');
  });

  it('has mean sqrt(abar) x0 and variance 1 - abar', () => {
    const s = new NoiseSchedule();
    const t = 300;
    const batch = 200;
    const x0 = tensor(new Float32Array(batch * 100).fill(0.5), [batch, 1, 10, 10]);
    const xt = addNoise(s, x0, randn(x0.shape), new Array(batch).fill(t)).toArray();
    const mean = xt.reduce((p, v) => p + v, 0) / xt.length;
    const variance = xt.reduce((p, v) => p + (v - mean) ** 2, 0) / (xt.length - 1);
    // 20,000 samples: standard error of the mean ~ 0.007, of the variance ~ 0.01 * var
    expect(mean).to.be.closeTo(0.5 * Math.sqrt(s.alphasCumprod[t]), 0.03);
    expect(variance).to.be.closeTo(1 - s.alphasCumprod[t], 0.05 * (1 - s.alphasCumprod[t]));
  });

  it('checks timesteps and shapes', () => {
    const s = new NoiseSchedule({ numTimesteps: 10 });
    const x = randn([2, 1, 2, 2]);
    expect(() => addNoise(s, x, x, [0])).to.throw(/1 timesteps for a batch of 2/);
    expect(() => addNoise(s, x, x, [0, 10])).to.throw(/timestep 10 is not an integer in \[0, 10\)/);
    expect(() => addNoise(s, x, randn([2, 1, 2, 3]), [0, 1])).to.throw(/differ in shape/);
  });

  it('diffusionLoss regresses the network output onto the noise that was added (Algorithm 1)', () => {
    const s = new NoiseSchedule({ numTimesteps: 100 });
    const x0 = randn([4, 1, 3, 3]);
    // an oracle that knows x0 recovers the noise exactly from x_t and t: loss 0
    const oracle = (xt: Tensor, t: Tensor) => {
      const ts = Array.from(t.toArray());
      const a = tensor(ts.map((ti) => s.sqrtAlphasCumprod[ti]), [4, 1, 1, 1]);
      const b = tensor(ts.map((ti) => s.sqrtOneMinusAlphasCumprod[ti]), [4, 1, 1, 1]);
      return xt.sub(x0.mul(a)).div(b);
    };
    const r = diffusionLoss(oracle, s, x0, new Generator(7));
    expect(r.loss.item()).to.be.below(1e-8);
    expect(Array.from(r.t).every((t) => t >= 0 && t < 100)).to.equal(true);
    // a network that predicts zeros has loss E[noise^2] = mean of the noise squared
    const zero = (xt: Tensor) => xt.mul(0);
    const r0 = diffusionLoss(zero, s, x0, new Generator(7));
    const n = r0.noise.toArray();
    expect(r0.loss.item()).to.be.closeTo(n.reduce((p, v) => p + v * v, 0) / n.length, 1e-5);
  });
});

/** The closed-form dummy model: eps(x, t) = 0.1 x + 0.001 t. */
const dummy = (x: Tensor, t: Tensor) => x.mul(0.1).add(t.reshape([-1, 1, 1, 1]).mul(0.001));
const dummyF = (x: number, t: number) => 0.1 * x + 0.001 * t;

describe('[unit 5: diffusion] reverse steps with a closed-form model', () => {
  const s = new NoiseSchedule({ numTimesteps: 20 });

  it('one DDPM step equals Algorithm 2: (x - beta/sqrt(1-abar) eps)/sqrt(alpha) + sigma z', () => {
    const x = randn([2, 1, 2, 2]);
    const t = 12;
    const sampler = new DdpmSampler(s, { clipDenoised: false });
    const out = sampler.step(dummy(x, tensor([t, t])), t, x, new Generator(5)).prevSample.toArray();
    const z = randn([2, 1, 2, 2], { generator: new Generator(5) }).toArray();
    const xs = x.toArray();
    const expected = Array.from(xs, (v, i) => {
      const eps = dummyF(v, t);
      const mean = (v - (s.betas[t] / Math.sqrt(1 - s.alphasCumprod[t])) * eps) / Math.sqrt(s.alphas[t]);
      return mean + Math.sqrt(s.posteriorVariance[t]) * z[i];
    });
    close(out, expected, 1e-5, 'x_{t-1}');
  });

  it('the last DDPM step (t = 0) adds no noise, and clipping bounds x0', () => {
    const x = randn([1, 1, 3, 3]).mul(5);
    const sampler = new DdpmSampler(s, { clipDenoised: true });
    const { prevSample, predOriginal } = sampler.step(dummy(x, tensor([0])), 0, x, new Generator(1));
    const x0 = predOriginal.toArray();
    expect(Math.max(...x0)).to.be.at.most(1);
    expect(Math.min(...x0)).to.be.at.least(-1);
    // at t = 0: coef1 = 1 and coef2 = 0, so x_{-1} is exactly the (clipped) x0
    close(prevSample.toArray(), x0, 1e-6, 'x at the end');
  });

  it('a deterministic DDIM step (eta = 0) follows eq. 12', () => {
    const sampler = new DdimSampler(s, { numSteps: 5, eta: 0, clipDenoised: false });
    expect(sampler.timesteps).to.deep.equal([16, 12, 8, 4, 0]);
    const x = randn([1, 1, 2, 2]);
    const t = 12;
    const out = sampler.step(dummy(x, tensor([t])), t, x, new Generator(3)).prevSample.toArray();
    const abarT = s.alphasCumprod[12];
    const abarS = s.alphasCumprod[8];
    const expected = Array.from(x.toArray(), (v) => {
      const eps = dummyF(v, t);
      const x0 = (v - Math.sqrt(1 - abarT) * eps) / Math.sqrt(abarT);
      return Math.sqrt(abarS) * x0 + Math.sqrt(1 - abarS) * eps;
    });
    close(out, expected, 1e-5, 'DDIM x_s');
  });

  it('a DDIM step with eta = 1 adds sigma z with sigma from eq. 16', () => {
    const sampler = new DdimSampler(s, { numSteps: 5, eta: 1, clipDenoised: false });
    const x = randn([1, 1, 2, 2]);
    const out = sampler.step(dummy(x, tensor([8])), 8, x, new Generator(9)).prevSample.toArray();
    const z = randn([1, 1, 2, 2], { generator: new Generator(9) }).toArray();
    const abarT = s.alphasCumprod[8];
    const abarS = s.alphasCumprod[4];
    const sigma = Math.sqrt((1 - abarS) / (1 - abarT)) * Math.sqrt(1 - abarT / abarS);
    const expected = Array.from(x.toArray(), (v, i) => {
      const eps = dummyF(v, 8);
      const x0 = (v - Math.sqrt(1 - abarT) * eps) / Math.sqrt(abarT);
      return Math.sqrt(abarS) * x0 + Math.sqrt(1 - abarS - sigma * sigma) * eps + sigma * z[i];
    });
    close(out, expected, 1e-5, 'DDIM eta=1');
    // with eta = 1, DDIM's sigma equals the DDPM posterior standard deviation when no step is skipped
    const full = new DdimSampler(s, { numSteps: 20, eta: 1 });
    const t = 7;
    const sig = Math.sqrt((1 - s.alphasCumprod[t - 1]) / (1 - s.alphasCumprod[t])) * Math.sqrt(1 - s.alphasCumprod[t] / s.alphasCumprod[t - 1]);
    expect(sig ** 2).to.be.closeTo(s.posteriorVariance[t], 1e-12);
    expect(full.timesteps.length).to.equal(20);
  });

  it('the whole DDPM sampling loop matches a float64 re-computation of Algorithm 2', () => {
    const shape = [2, 1, 2, 2];
    const out = sample(dummy, new DdpmSampler(s, { clipDenoised: false }), shape, { generator: new Generator(42) }).toArray();
    // replay: the same generator gives x_T, then one z per step for t = 19..1
    const g = new Generator(42);
    let x = Array.from(randn(shape, { generator: g }).toArray());
    for (let t = s.T - 1; t >= 0; t--) {
      const mean = x.map((v) => (v - (s.betas[t] / Math.sqrt(1 - s.alphasCumprod[t])) * dummyF(v, t)) / Math.sqrt(s.alphas[t]));
      if (t > 0) {
        const z = randn(shape, { generator: g }).toArray();
        x = mean.map((m, i) => m + Math.sqrt(s.posteriorVariance[t]) * z[i]);
      } else x = mean;
    }
    close(out, x, 1e-4, 'x_0 after 20 steps');
    const meanOut = out.reduce((p, v) => p + v, 0) / out.length;
    expect(Number.isFinite(meanOut)).to.equal(true);
  });

  it('DPM-Solver++(2M): its first step is the DDIM step; later steps add the 2nd-order term of Lu et al. 2022 (float64 replay)', () => {
    const dpm = new DpmSolverSampler(s, { numSteps: 5, clipDenoised: false });
    const ddim = new DdimSampler(s, { numSteps: 5, eta: 0, clipDenoised: false });
    expect(dpm.timesteps).to.deep.equal([16, 12, 8, 4, 0]);
    const x = randn([1, 1, 2, 2], { generator: new Generator(21) });
    const first = dpm.step(dummy(x, tensor([16])), 16, x, new Generator(0)).prevSample;
    close(first.toArray(), ddim.step(dummy(x, tensor([16])), 16, x, new Generator(0)).prevSample.toArray(), 1e-6, 'first step = DDIM');
    const second = dpm.step(dummy(first, tensor([12])), 12, first, new Generator(0)).prevSample.toArray();
    // replay in float64: lambda_t = log(sqrt(abar) / sqrt(1 - abar)), x0 from eps, D with r = h_prev / h
    const lam = (t: number) => Math.log(Math.sqrt(s.alphasCumprod[t]) / Math.sqrt(1 - s.alphasCumprod[t]));
    const x0Of = (v: number, t: number) => (v - Math.sqrt(1 - s.alphasCumprod[t]) * dummyF(v, t)) / Math.sqrt(s.alphasCumprod[t]);
    const h1 = lam(12) - lam(16);
    const h2 = lam(8) - lam(12);
    const r = h1 / h2;
    const want = Array.from(x.toArray(), (v) => {
      const x1 = (Math.sqrt(1 - s.alphasCumprod[12]) / Math.sqrt(1 - s.alphasCumprod[16])) * v - Math.sqrt(s.alphasCumprod[12]) * (Math.exp(-h1) - 1) * x0Of(v, 16);
      const d = (1 + 1 / (2 * r)) * x0Of(x1, 12) - (1 / (2 * r)) * x0Of(v, 16);
      return (Math.sqrt(1 - s.alphasCumprod[8]) / Math.sqrt(1 - s.alphasCumprod[12])) * x1 - Math.sqrt(s.alphasCumprod[8]) * (Math.exp(-h2) - 1) * d;
    });
    close(second, want, 1e-5, 'second step');
    // the correction is really there: a first-order step from the same point differs
    const firstOrder = new DpmSolverSampler(s, { numSteps: 5, clipDenoised: false });
    const plain = firstOrder.step(dummy(first, tensor([12])), 12, first, new Generator(0)).prevSample.toArray();
    expect(Math.max(...Array.from(plain, (v, i) => Math.abs(v - second[i])))).to.be.above(1e-4);
  });

  it('DPM-Solver++ with a model that knows x0 lands on x0 exactly, and starts afresh for the next batch', () => {
    const x0 = randn([2, 1, 2, 2], { generator: new Generator(5) }).clamp(-1, 1);
    const knows = (x: Tensor, t: Tensor) => {
      const ti = t.toArray()[0];
      return x.sub(x0.mul(s.sqrtAlphasCumprod[ti])).mul(1 / s.sqrtOneMinusAlphasCumprod[ti]);
    };
    const dpm = new DpmSolverSampler(s, { numSteps: 6 });
    for (const seed of [1, 2]) close(sample(knows, dpm, [2, 1, 2, 2], { generator: new Generator(seed) }).toArray(), x0.toArray(), 1e-4, `run ${seed}`);
    expect(() => new DpmSolverSampler(s, { numSteps: 0 })).to.throw(/numSteps must be an integer in \[1, 20\], got 0/);
    expect(() => dpm.step(x0, 7, x0, new Generator(0))).to.throw(/timestep 7 is not one of this sampler's 6 steps/);
  });

  it('validates sampler options', () => {
    expect(() => new DdimSampler(s, { numSteps: 0 })).to.throw(/numSteps must be an integer in \[1, 20\]/);
    expect(() => new DdimSampler(s, { numSteps: 21 })).to.throw(/numSteps/);
    expect(() => new DdimSampler(s, { numSteps: 5, eta: -1 })).to.throw(/eta must be >= 0/);
    const d = new DdimSampler(s, { numSteps: 4 });
    const x = randn([1, 1, 1, 1]);
    expect(() => d.step(x, 3, x, new Generator(0))).to.throw(/timestep 3 is not one of this sampler's 4 steps/);
  });
});

describe('[unit 5: diffusion] objectives: v and x0 prediction, min-SNR weighting, classifier-free guidance', () => {
  const s = new NoiseSchedule({ numTimesteps: 100 });
  const t = [0, 7, 50, 99];
  // made when the tests run, on the backend current then (as every tensor the tests make)
  let x0: Tensor;
  let eps: Tensor;
  before(() => {
    x0 = randn([4, 1, 2, 3], { generator: new Generator(11) }).clamp(-1, 1);
    eps = randn([4, 1, 2, 3], { generator: new Generator(12) });
  });
  const per = 6;
  // float64 coefficients straight from the schedule's definition (running product of 1 - beta)
  const abar = (ti: number) => {
    let p = 1;
    for (let k = 0; k <= ti; k++) p *= 1 - (1e-4 + ((0.02 - 1e-4) * k) / 99);
    return p;
  };

  it('targets: eps is the noise, x0 the image, v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans & Ho 2022)', () => {
    const xs = x0.toArray();
    const es = eps.toArray();
    close(predictionTarget(s, 'eps', x0, eps, t).toArray(), es, 0, 'eps target');
    close(predictionTarget(s, 'x0', x0, eps, t).toArray(), xs, 0, 'x0 target');
    const want = Array.from(xs, (_, i) => {
      const a = abar(t[Math.floor(i / per)]);
      return Math.sqrt(a) * es[i] - Math.sqrt(1 - a) * xs[i];
    });
    close(predictionTarget(s, 'v', x0, eps, t).toArray(), want, 1e-6, 'v target');
  });

  it('epsFromOutput turns each exact target back into the noise of x_t, and x0 = sqrt(abar) x_t - sqrt(1 - abar) v', () => {
    const xt = addNoise(s, x0, eps, t);
    for (const p of ['eps', 'v', 'x0'] as const) {
      const back = epsFromOutput(s, p, predictionTarget(s, p, x0, eps, t), xt, t).toArray();
      // x0-prediction divides by sqrt(1 - abar_0) = 0.01 at t = 0: float32 rounding of x_t grows 100x there
      close(back, eps.toArray(), p === 'x0' ? 1e-4 : 1e-6, `eps from ${p}`);
    }
    const v = predictionTarget(s, 'v', x0, eps, t).toArray();
    const xtv = xt.toArray();
    const x0back = Array.from(xtv, (xv, i) => {
      const a = abar(t[Math.floor(i / per)]);
      return Math.sqrt(a) * xv - Math.sqrt(1 - a) * v[i];
    });
    close(x0back, x0.toArray(), 1e-5, 'x0 from v');
  });

  it('min-SNR-gamma weights (Hang et al. 2023): eps min(SNR, g)/SNR, v min(SNR, g)/(SNR + 1), x0 min(SNR, g); none = 1', () => {
    const snrOf = (ti: number) => abar(ti) / (1 - abar(ti));
    for (const g of [5, 1]) {
      const want = {
        eps: t.map((ti) => Math.min(snrOf(ti), g) / snrOf(ti)),
        v: t.map((ti) => Math.min(snrOf(ti), g) / (snrOf(ti) + 1)),
        x0: t.map((ti) => Math.min(snrOf(ti), g)),
      };
      for (const p of ['eps', 'v', 'x0'] as const) close(lossWeights(s, { prediction: p, weighting: 'min-snr', snrGamma: g }, t), want[p], 1e-9, `${p}, gamma ${g}`);
    }
    expect(Array.from(lossWeights(s, { prediction: 'v', weighting: 'none', snrGamma: 5 }, t))).to.deep.equal([1, 1, 1, 1]);
    // the cap binds at low noise (SNR > gamma) and not at high noise
    expect(snrOf(0)).to.be.above(5);
    expect(snrOf(99)).to.be.below(5);
  });

  it('the weighted loss is (1/B) sum_i w(t_i) mean_i (output - target)^2; unweighted it is the plain MSE', () => {
    const out = randn([4, 1, 2, 3], { generator: new Generator(13) });
    const target = predictionTarget(s, 'v', x0, eps, t);
    const objective = { prediction: 'v', weighting: 'min-snr', snrGamma: 5 } as const;
    const w = lossWeights(s, objective, t);
    const o = out.toArray();
    const tg = target.toArray();
    let want = 0;
    for (let b = 0; b < 4; b++) {
      let m = 0;
      for (let j = 0; j < per; j++) m += (o[b * per + j] - tg[b * per + j]) ** 2;
      want += (w[b] * m) / per / 4;
    }
    expect(weightedMse(s, objective, out, target, t).item()).to.be.closeTo(want, 1e-6 * want);
    const plain = weightedMse(s, { ...objective, weighting: 'none' }, out, target, t).item();
    let mse = 0;
    for (let i = 0; i < o.length; i++) mse += (o[i] - tg[i]) ** 2 / o.length;
    expect(plain).to.be.closeTo(mse, 1e-6 * mse);
  });

  it('a v-predicting network that knows x0: through asNoisePredictor, DDIM estimates x0 exactly at every t and lands on it', () => {
    // the perfect v-model for the data point x0: v(x_t, t) = (sqrt(abar) x_t - x0) / sqrt(1 - abar)
    const perfectV = (x: Tensor, tt: Tensor) => {
      const ti = tt.toArray()[0];
      const a = s.alphasCumprod[ti];
      return x.mul(Math.sqrt(a)).sub(x0).mul(1 / Math.sqrt(1 - a));
    };
    const predict = asNoisePredictor(perfectV, s, 'v');
    const sampler = new DdimSampler(s, { numSteps: 4, clipDenoised: false });
    expect(sampler.timesteps).to.deep.equal([75, 50, 25, 0]);
    for (const ti of sampler.timesteps) {
      const xt = addNoise(s, x0, eps, [ti, ti, ti, ti]);
      const { predOriginal } = sampler.step(predict(xt, tensor([ti, ti, ti, ti])), ti, xt, new Generator(0));
      close(predOriginal.toArray(), x0.toArray(), 1e-4, `x0 estimate at t = ${ti}`);
    }
    const out = sample(predict, sampler, [4, 1, 2, 3], { generator: new Generator(1) });
    close(out.toArray(), x0.toArray(), 1e-4, 'the sample');
    // and eps-prediction is passed through untouched
    expect(asNoisePredictor(perfectV, s, 'eps')).to.equal(perfectV);
  });

  it('guidance: w = 0 is the null-class output, w = 1 the class output, w mixes u + w (c - u) from one batched call', () => {
    // a toy conditional model: its output depends on the label through a per-image offset
    const calls: number[] = [];
    const model = (x: Tensor, tt: Tensor, labels?: Int32Array) => {
      calls.push(x.shape[0]);
      const offsets = Array.from(labels!, (y) => (y === 10 ? -0.5 : 0.1 * y));
      return x.mul(0.3).add(tensor(offsets, [offsets.length, 1, 1, 1])).add(tt.reshape([tt.shape[0], 1, 1, 1]).mul(0.01));
    };
    const x = randn([3, 1, 2, 2], { generator: new Generator(3) });
    const tt = tensor([5, 5, 5]);
    const labels = Int32Array.from([2, 7, 0]);
    const uncond = model(x, tt, new Int32Array(3).fill(10)).toArray();
    const cond = model(x, tt, labels).toArray();
    calls.length = 0;
    close(guidedPredictor(model, labels, 0, Int32Array.of(10))(x, tt).toArray(), uncond, 0, 'w = 0');
    close(guidedPredictor(model, labels, 1, Int32Array.of(10))(x, tt).toArray(), cond, 0, 'w = 1');
    expect(calls).to.deep.equal([3, 3]);
    for (const w of [0.5, 2, 5]) {
      const got = guidedPredictor(model, labels, w, Int32Array.of(10))(x, tt).toArray();
      close(got, Array.from(uncond, (u, i) => u + w * (cond[i] - u)), 1e-6, `w = ${w}`);
    }
    expect(calls.slice(2)).to.deep.equal([6, 6, 6]); // one pass of 2B images each
    expect(() => guidedPredictor(model, labels, -1, Int32Array.of(10))).to.throw(/guidance must be a finite number >= 0, got -1/);
    expect(() => guidedPredictor(model, labels, NaN, Int32Array.of(10))).to.throw(/guidance must be a finite number >= 0, got NaN/);
    expect(() => guidedPredictor(model, labels, 2, Int32Array.of(10))(randn([2, 1, 2, 2]), tensor([5, 5]))).to.throw(/a batch of 2 images for 3 conditions/);
  });
});
