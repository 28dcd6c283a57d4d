/**
 * [assignment 9] The DDPM step (docs/course/09-ddpm-step.md): Algorithm 2 of Ho et al. 2020,
 *   x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z,
 * with sigma_t^2 the posterior variance beta_t (1 - abar_{t-1}) / (1 - abar_t) and no noise at t = 0.
 */
import { expect } from 'chai';
import { DdpmSampler, NoiseSchedule } from '../../src/diffusion';
import { randn, tensor, Generator, type Tensor } from '../../src';

/** a closed-form stand-in for the network: eps(x, t) = 0.1 x + 0.001 t */
const eps = (x: Tensor, t: number) => x.mul(0.1).add(0.001 * t);

describe('[assignment 9: the DDPM step]', () => {
  const s = new NoiseSchedule({ numTimesteps: 20 });
  const abar = (t: number) => (t < 0 ? 1 : s.betas.slice(0, t + 1).reduce((p, b) => p * (1 - b), 1));

  for (const t of [19, 12, 1]) {
    it(`t = ${t}: Algorithm 2's mean plus the posterior sigma times z (z from the step's generator)`, () => {
      const x = randn([2, 1, 2, 2], { generator: new Generator(t) });
      const out = new DdpmSampler(s, { clipDenoised: false }).step(eps(x, t), t, x, new Generator(5)).prevSample.toArray();
      const z = randn([2, 1, 2, 2], { generator: new Generator(5) }).toArray();
      const beta = s.betas[t];
      const sigma = Math.sqrt((beta * (1 - abar(t - 1))) / (1 - abar(t)));
      Array.from(x.toArray()).forEach((v, i) => {
        const e = 0.1 * v + 0.001 * t;
        const want = (v - (beta / Math.sqrt(1 - abar(t))) * e) / Math.sqrt(1 - beta) + sigma * z[i];
        expect(out[i], `element ${i}`).to.be.closeTo(want, 1e-5);
      });
    });
  }

  it('t = 0 adds no noise: x_{-1} is the predicted x_0, (x_0 - sqrt(1 - abar_0) eps) / sqrt(abar_0)', () => {
    const x = tensor([0.3, -0.2, 0.1, 0.05], [1, 1, 2, 2]);
    const { prevSample, predOriginal } = new DdpmSampler(s, { clipDenoised: false }).step(eps(x, 0), 0, x, new Generator(1));
    const want = Array.from(x.toArray(), (v) => (v - Math.sqrt(1 - abar(0)) * 0.1 * v) / Math.sqrt(abar(0)));
    prevSample.toArray().forEach((v, i) => expect(v).to.be.closeTo(want[i], 1e-5));
    predOriginal.toArray().forEach((v, i) => expect(v).to.be.closeTo(want[i], 1e-5));
  });
});
