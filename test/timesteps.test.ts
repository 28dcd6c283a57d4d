/**
 * [unit 5: diffusion] Where training draws t from (src/diffusion/timesteps.ts): the
 * probabilities against a float64 integral of the normal density over each timestep's bin
 * of ln SNR, the draws against those probabilities, and the uniform kind against
 * Algorithm 1's randint draw, number for number.
 */
import { expect } from 'chai';
import { Generator } from '../src';
import { NoiseSchedule, drawTimestepsAndNoise } from '../src/diffusion';
import { TimestepSampler, logSnr, timestepProbabilities, UNIFORM_TIMESTEPS } from '../src/diffusion/timesteps';

/** integral of the N(m, s^2) density over [lo, hi] by Simpson's rule (independent of erf) */
function normalMass(lo: number, hi: number, m: number, s: number): number {
  const a = Math.max(lo, m - 12 * s);
  const b = Math.min(hi, m + 12 * s);
  if (!(b > a)) return 0;
  const n = 2000;
  const h = (b - a) / n;
  const f = (x: number) => Math.exp(-0.5 * ((x - m) / s) ** 2) / (s * Math.sqrt(2 * Math.PI));
  let sum = f(a) + f(b);
  for (let i = 1; i < n; i++) sum += (i % 2 ? 4 : 2) * f(a + i * h);
  return (sum * h) / 3;
}

describe('[unit 5: diffusion] timestep sampling for training', () => {
  const schedule = new NoiseSchedule();

  it('ln SNR(t) = ln(abar_t / (1 - abar_t)), falling with t', () => {
    for (const t of [0, 10, 250, 500, 999]) {
      const abar = schedule.alphasCumprod[t];
      expect(logSnr(schedule, t)).to.be.closeTo(Math.log(abar / (1 - abar)), 1e-9);
    }
    for (let t = 1; t < schedule.T; t++) expect(logSnr(schedule, t)).to.be.below(logSnr(schedule, t - 1));
  });

  it('log-snr-normal: p(t) is the normal mass of t\'s bin between its neighbours\' midpoints, on the linear and cosine schedules', () => {
    for (const sch of [schedule, new NoiseSchedule({ numTimesteps: 200, schedule: 'cosine' })]) {
      for (const [m, s] of [[0, 2], [2.4, 2.4], [-3, 0.7]]) {
        const p = timestepProbabilities(sch, { kind: 'log-snr-normal', logSnrMean: m, logSnrStd: s });
        const lam = Array.from({ length: sch.T }, (_, t) => logSnr(sch, t));
        let total = 0;
        for (let t = 0; t < sch.T; t++) {
          const hi = t === 0 ? Infinity : (lam[t - 1] + lam[t]) / 2;
          const lo = t === sch.T - 1 ? -Infinity : (lam[t] + lam[t + 1]) / 2;
          const expected = normalMass(lo, hi, m, s);
          expect(p[t], `T ${sch.T}, N(${m}, ${s}^2), t = ${t}`).to.be.closeTo(expected, 2e-6);
          total += p[t];
        }
        expect(total).to.be.closeTo(1, 1e-12);
      }
    }
  });

  it('uniform: p(t) = 1/T, and the draws are Algorithm 1\'s generator.randint(T), number for number', () => {
    const p = timestepProbabilities(schedule, UNIFORM_TIMESTEPS);
    for (const x of p) expect(x).to.equal(1 / 1000);
    const a = new Generator(7);
    const b = new Generator(7);
    const drawn = drawTimestepsAndNoise(schedule, [16, 1, 2, 2], a, new TimestepSampler(schedule));
    const plain = drawTimestepsAndNoise(schedule, [16, 1, 2, 2], b);
    expect(Array.from(drawn.t)).to.deep.equal(Array.from(plain.t));
    expect(Array.from(drawn.noise.toArray())).to.deep.equal(Array.from(plain.noise.toArray()));
  });

  it('the draws follow p(t): frequencies of 200,000 draws within 5 standard errors per bin of 50 timesteps', () => {
    const sampling = { kind: 'log-snr-normal' as const, logSnrMean: 1, logSnrStd: 1.5 };
    const sampler = new TimestepSampler(schedule, sampling);
    const p = timestepProbabilities(schedule, sampling);
    const g = new Generator(3);
    const n = 200000;
    const counts = new Float64Array(20);
    for (let i = 0; i < n; i++) {
      const t = sampler.draw(g);
      expect(t >= 0 && t < 1000 && Number.isInteger(t)).to.equal(true);
      counts[Math.floor(t / 50)]++;
    }
    for (let bin = 0; bin < 20; bin++) {
      let q = 0;
      for (let t = bin * 50; t < bin * 50 + 50; t++) q += p[t];
      const se = Math.sqrt((q * (1 - q)) / n);
      expect(counts[bin] / n, `bin ${bin}`).to.be.closeTo(q, 5 * se + 1e-6);
    }
    // the inverse CDF: a uniform number u lands on the first t whose cumulative probability exceeds u
    const fixed = { uniform: () => 0.5 } as unknown as Generator;
    let c = 0;
    let median = 0;
    while ((c += p[median]) <= 0.5) median++;
    expect(sampler.draw(fixed)).to.equal(median);
  });

  it('rejects a std that is not > 0, and a sampler for another T', () => {
    expect(() => timestepProbabilities(schedule, { kind: 'log-snr-normal', logSnrMean: 0, logSnrStd: 0 })).to.throw(/std > 0, got mean 0, std 0/);
    const other = new TimestepSampler(new NoiseSchedule({ numTimesteps: 10 }));
    expect(() => drawTimestepsAndNoise(schedule, [2, 1, 1, 1], new Generator(0), other)).to.throw(/for T = 10, the schedule has T = 1000/);
  });
});
