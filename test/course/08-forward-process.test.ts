/**
 * [assignment 8] The forward process (docs/course/08-forward-process.md): addNoise draws
 * x_t ~ q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) as sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,
 * with abar_t = prod_{s <= t} (1 - beta_s) computed here from the betas by a loop.
 */
import { expect } from 'chai';
import { addNoise, NoiseSchedule } from '../../src/diffusion';
import { randn, Generator } from '../../src';

describe('[assignment 8: the forward process q(x_t | x_0)]', () => {
  const s = new NoiseSchedule({ numTimesteps: 100 });
  const abar = (t: number) => {
    let p = 1;
    for (let i = 0; i <= t; i++) p *= 1 - s.betas[i];
    return p;
  };

  it('each image gets its own t: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps', () => {
    const x0 = randn([3, 1, 2, 2], { generator: new Generator(1) });
    const eps = randn([3, 1, 2, 2], { generator: new Generator(2) });
    const t = [0, 40, 99];
    const got = addNoise(s, x0, eps, t).toArray();
    const a = x0.toArray();
    const e = eps.toArray();
    got.forEach((v, i) => {
      const ti = t[Math.floor(i / 4)];
      expect(v, `element ${i}`).to.be.closeTo(Math.sqrt(abar(ti)) * a[i] + Math.sqrt(1 - abar(ti)) * e[i], 1e-5);
    });
  });

  it('over many draws, x_t has mean sqrt(abar_t) x_0 and variance 1 - abar_t', () => {
    const t = 60;
    const n = 20000;
    const x0 = randn([1, 1, 1, 1], { generator: new Generator(3) }).expand([n, 1, 1, 1]).contiguous();
    const xt = addNoise(s, x0, randn([n, 1, 1, 1], { generator: new Generator(4) }), new Array(n).fill(t)).toArray();
    const mean = xt.reduce((p, v) => p + v, 0) / n;
    const variance = xt.reduce((p, v) => p + (v - mean) ** 2, 0) / n;
    expect(mean).to.be.closeTo(Math.sqrt(abar(t)) * x0.toArray()[0], 4 * Math.sqrt((1 - abar(t)) / n));
    expect(variance).to.be.closeTo(1 - abar(t), 0.03 * (1 - abar(t)));
  });
});
