/**
 * [assignment 10] The DDIM step (docs/course/10-ddim-step.md): Song et al. 2021, eq. 12,
 * from x_t to x_s (s the previous of the sampler's timesteps, abar_{-1} = 1):
 *   x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
 *   sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s)     (eq. 16)
 *   x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s - sigma^2) eps + sigma z
 */
import { expect } from 'chai';
import { DdimSampler, NoiseSchedule } from '../../src/diffusion';
import { randn, Generator, type Tensor } from '../../src';

const eps = (x: Tensor, t: number) => x.mul(0.1).add(0.001 * t);

describe('[assignment 10: the DDIM step]', () => {
  const s = new NoiseSchedule({ numTimesteps: 20 });
  const abar = (t: number) => (t < 0 ? 1 : s.betas.slice(0, t + 1).reduce((p, b) => p * (1 - b), 1));
  const expected = (x: Float32Array, t: number, sPrev: number, eta: number, z: Float32Array | null) => {
    const sigma = eta * Math.sqrt((1 - abar(sPrev)) / (1 - abar(t))) * Math.sqrt(1 - abar(t) / abar(sPrev));
    return Array.from(x, (v, i) => {
      const e = 0.1 * v + 0.001 * t;
      const x0 = (v - Math.sqrt(1 - abar(t)) * e) / Math.sqrt(abar(t));
      return Math.sqrt(abar(sPrev)) * x0 + Math.sqrt(1 - abar(sPrev) - sigma * sigma) * e + (z ? sigma * z[i] : 0);
    });
  };

  it('eta = 0, 5 steps (timesteps 16, 12, 8, 4, 0): each step is deterministic and follows eq. 12', () => {
    const sampler = new DdimSampler(s, { numSteps: 5, eta: 0, clipDenoised: false });
    for (const [t, prev] of [[16, 12], [12, 8], [4, 0]]) {
      const x = randn([1, 1, 2, 2], { generator: new Generator(t) });
      const out = sampler.step(eps(x, t), t, x, new Generator(3)).prevSample.toArray();
      expected(x.toArray(), t, prev, 0, null).forEach((v, i) => expect(out[i], `t = ${t}, element ${i}`).to.be.closeTo(v, 1e-5));
    }
  });

  it('the last step (t = 0, s = -1) returns the predicted x0 itself', () => {
    const sampler = new DdimSampler(s, { numSteps: 5, eta: 0, clipDenoised: false });
    const x = randn([1, 1, 2, 2], { generator: new Generator(4) });
    const { prevSample, predOriginal } = sampler.step(eps(x, 0), 0, x, new Generator(3));
    const want = Array.from(x.toArray(), (v) => (v - Math.sqrt(1 - abar(0)) * 0.1 * v) / Math.sqrt(abar(0)));
    prevSample.toArray().forEach((v, i) => expect(v).to.be.closeTo(want[i], 1e-5));
    predOriginal.toArray().forEach((v, i) => expect(v).to.be.closeTo(want[i], 1e-5));
  });

  it('eta = 1 adds sigma z, z drawn from the step\'s generator', () => {
    const sampler = new DdimSampler(s, { numSteps: 5, eta: 1, clipDenoised: false });
    const x = randn([1, 1, 2, 2], { generator: new Generator(6) });
    const out = sampler.step(eps(x, 8), 8, x, new Generator(9)).prevSample.toArray();
    const z = randn([1, 1, 2, 2], { generator: new Generator(9) }).toArray();
    expected(x.toArray(), 8, 4, 1, z).forEach((v, i) => expect(out[i], `element ${i}`).to.be.closeTo(v, 1e-5));
  });
});
