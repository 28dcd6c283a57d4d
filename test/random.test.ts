/**
 * Unit 1: tensors (random numbers). The generator is xoshiro128** (Blackman & Vigna 2018)
 * seeded through splitmix32. Its first outputs are pinned two independent ways:
 *
 * 1. The literals below were printed by this C program, written from the published
 *    algorithms (https://prng.di.unimi.it/xoshiro128starstar.c; splitmix32 is the 32-bit
 *    splitmix step: add the golden-ratio increment, then the MurmurHash3 fmix32 finalizer):
 *
 *      static uint32_t x;
 *      uint32_t splitmix32(void) { uint32_t z = (x += 0x9e3779b9u);
 *        z = (z ^ (z >> 16)) * 0x85ebca6bu; z = (z ^ (z >> 13)) * 0xc2b2ae35u; return z ^ (z >> 16); }
 *      static inline uint32_t rotl(uint32_t v, int k) { return (v << k) | (v >> (32 - k)); }
 *      static uint32_t s[4];
 *      uint32_t next(void) { const uint32_t result = rotl(s[1] * 5, 7) * 9; const uint32_t t = s[1] << 9;
 *        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 11); return result; }
 *      // main: x = seed; for (i < 4) s[i] = splitmix32(); then print next() eight times
 *
 *    (gcc 12, `gcc -O2 xo.c && ./a.out`).
 * 2. `BigXoshiro` below recomputes them with BigInt arithmetic modulo 2^32, sharing no code
 *    with src/random.ts.
 *
 * The statistical tests use bounds of about 5 standard errors (or a 0.1% Kolmogorov-Smirnov
 * level), so a correct generator fails them essentially never, and the seeds are fixed anyway.
 */
import { expect } from 'chai';
import { rand, randn } from '../src/creation';
import { Generator, defaultGenerator, manualSeed } from '../src/random';
import { forEachBackend } from './helpers/backends';
import { erfSeries } from './helpers/reference';

const PINNED: { seed: number; state: number[]; first: number[] }[] = [
  { seed: 0, state: [2462723854, 1020716019, 454327756, 1275600319], first: [3809008728, 1133695204, 53579671, 2891528803, 139681546, 2203266335, 104831812, 1587294886] },
  { seed: 1234, state: [1889054206, 3098527212, 4145563210, 4171268909], first: [1927626933, 2777857285, 1362201715, 1134824276, 1166963396, 1362470428, 3154681131, 3481838373] },
  // -1 is taken as the 32-bit pattern 0xffffffff
  { seed: -1, state: [920564995, 4230986166, 697614773, 1778835764], first: [835879718, 1921286648, 2356205009, 1885780724, 980451116, 1053911718, 3677392737, 2464361898] },
];

/** xoshiro128** and splitmix32 in BigInt, straight from the definitions (every op mod 2^32). */
class BigXoshiro {
  static readonly M = (1n << 32n) - 1n;
  s: bigint[];
  constructor(seed: number) {
    const M = BigXoshiro.M;
    let x = BigInt(seed) & M;
    const splitmix32 = () => {
      x = (x + 0x9e3779b9n) & M;
      let z = x;
      z = ((z ^ (z >> 16n)) * 0x85ebca6bn) & M;
      z = ((z ^ (z >> 13n)) * 0xc2b2ae35n) & M;
      return z ^ (z >> 16n);
    };
    this.s = [splitmix32(), splitmix32(), splitmix32(), splitmix32()];
  }
  static rotl(v: bigint, k: bigint): bigint {
    return ((v << k) | (v >> (32n - k))) & BigXoshiro.M;
  }
  next(): number {
    const M = BigXoshiro.M;
    const s = this.s;
    const result = (BigXoshiro.rotl((s[1] * 5n) & M, 7n) * 9n) & M;
    const t = (s[1] << 9n) & M;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = BigXoshiro.rotl(s[3], 11n);
    return Number(result);
  }
}

const take = (n: number, f: () => number) => Array.from({ length: n }, f);
const Phi = (z: number) => 0.5 * (1 + erfSeries(z / Math.SQRT2));

/** Kolmogorov-Smirnov statistic sqrt(n) * sup |F_n - F|; above 1.95 happens with probability 0.1%. */
function ksStatistic(samples: number[], cdf: (x: number) => number): number {
  const xs = Float64Array.from(samples).sort();
  const n = xs.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(xs[i]);
    d = Math.max(d, Math.abs(f - i / n), Math.abs((i + 1) / n - f));
  }
  return Math.sqrt(n) * d;
}

forEachBackend('[unit 1: tensors] random numbers', () => {
  it('pins the seeding (splitmix32) and the first outputs of xoshiro128**', () => {
    for (const { seed, state, first } of PINNED) {
      const g = new Generator(seed);
      expect(g.getState().s, `state after seeding with ${seed}`).to.deep.equal(state);
      expect(take(8, () => g.nextUint32()), `first outputs for seed ${seed}`).to.deep.equal(first);
    }
  });

  it('the BigInt re-implementation agrees with the pins and with the generator for 1000 steps', () => {
    for (const { seed, state, first } of PINNED) {
      const big = new BigXoshiro(seed);
      expect(big.s.map(Number)).to.deep.equal(state);
      expect(take(8, () => big.next())).to.deep.equal(first);
    }
    const big = new BigXoshiro(987654321);
    const g = new Generator(987654321);
    expect(take(1000, () => g.nextUint32())).to.deep.equal(take(1000, () => big.next()));
  });

  it('uniform() is the top 24 bits over 2^24, and normal() is Box-Muller of two uniforms', () => {
    const g = new Generator(0);
    const u = PINNED[0].first.map((w) => Math.floor(w / 256) / 16777216);
    expect(take(4, () => g.uniform())).to.deep.equal(u.slice(0, 4));
    // Box-Muller with u1 taken as 1 - u (so log never sees 0): cos first, then the sine partner
    const r = Math.sqrt(-2 * Math.log(1 - u[4]));
    expect(g.normal()).to.be.closeTo(r * Math.cos(2 * Math.PI * u[5]), 1e-12);
    expect(g.normal()).to.be.closeTo(r * Math.sin(2 * Math.PI * u[5]), 1e-12);
  });

  it('the same seed gives the same stream; different seeds differ', () => {
    const a = new Generator(42);
    const b = new Generator(42);
    expect(take(50, () => a.normal())).to.deep.equal(take(50, () => b.normal()));
    expect(take(5, () => new Generator(43).uniform())).to.not.deep.equal(take(5, () => new Generator(42).uniform()));
    a.manualSeed(42);
    expect(a.uniform(), 'manualSeed restarts the stream').to.equal(new Generator(42).uniform());
    expect(() => new Generator(1.5)).to.throw('Generator.manualSeed: seed must be an integer, got 1.5');
  });

  it('getState/setState resume the stream exactly, including a pending Box-Muller normal', () => {
    const g = new Generator(7);
    g.normal(); // leaves the second normal of the pair pending
    const saved = g.getState();
    expect(saved.spare).to.be.a('number');
    const after = take(9, () => g.normal());
    g.setState(saved);
    expect(take(9, () => g.normal())).to.deep.equal(after);
    const other = new Generator(0).setState(saved);
    expect(take(5, () => other.normal()), 'a state moves to another generator').to.deep.equal(after.slice(0, 5));
    expect(() => g.setState({ s: [1, 2] } as any)).to.throw('Generator.setState: expected {s: [4 uint32], spare}');
    const fresh = new Generator(7);
    fresh.manualSeed(7);
    expect(fresh.getState().spare, 'reseeding drops a pending normal').to.equal(null);
  });

  it('rand and randn with a generator upload exactly its numbers (the same on every backend)', () => {
    const g = new Generator(5);
    const wantU = take(20, () => g.uniform());
    const wantN = take(21, () => g.normal()).map(Math.fround);
    const h = new Generator(5);
    expect(Array.from(rand([4, 5], { generator: h }).toArray())).to.deep.equal(wantU);
    expect(Array.from(randn([3, 7], { generator: h }).toArray())).to.deep.equal(wantN);
    manualSeed(5);
    expect(Array.from(rand([20]).toArray()), 'the default generator follows manualSeed').to.deep.equal(wantU);
    const advanced = new Generator(5);
    take(20, () => advanced.uniform());
    expect(defaultGenerator.getState(), 'rand drew one uniform per element').to.deep.equal(advanced.getState());
  });

  it('rand is uniform on [0, 1): range, mean, variance and a Kolmogorov-Smirnov test', () => {
    const n = 100000;
    const xs = Array.from(rand([n], { generator: new Generator(11) }).toArray());
    expect(xs.every((x) => x >= 0 && x < 1)).to.equal(true);
    const mean = xs.reduce((s, x) => s + x, 0) / n;
    const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
    expect(mean).to.be.closeTo(0.5, 5 * Math.sqrt(1 / 12 / n)); // 5 standard errors
    expect(variance).to.be.closeTo(1 / 12, 5 * Math.sqrt(1 / 180 / n)); // var of s^2 for U(0,1) is 1/180n
    expect(ksStatistic(xs, (x) => x)).to.be.lessThan(1.95);
  });

  it('randn is standard normal: mean, variance, tails and a Kolmogorov-Smirnov test on 100k samples', () => {
    const n = 100000;
    const xs = Array.from(randn([n], { generator: new Generator(12) }).toArray());
    const mean = xs.reduce((s, x) => s + x, 0) / n;
    const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
    expect(mean).to.be.closeTo(0, 5 / Math.sqrt(n)); // sd of the mean is 1/sqrt(n)
    expect(variance).to.be.closeTo(1, 5 * Math.sqrt(2 / n)); // sd of s^2 is sqrt(2/n) for a normal
    const p1 = xs.filter((x) => Math.abs(x) < 1).length / n; // P(|z| < 1) = 0.6827
    expect(p1).to.be.closeTo(0.682689, 5 * Math.sqrt((0.6827 * 0.3173) / n));
    const p3 = xs.filter((x) => Math.abs(x) > 3).length / n; // P(|z| > 3) = 0.0027
    expect(p3).to.be.closeTo(0.0026998, 5 * Math.sqrt((0.0027 * 0.9973) / n));
    expect(ksStatistic(xs, Phi)).to.be.lessThan(1.95);
  });

  it('permutation(n) is a permutation, seeded, and every order of 3 is equally likely', () => {
    const g = new Generator(3);
    for (const n of [0, 1, 2, 10, 257]) {
      const p = g.permutation(n);
      expect(p.slice().sort((a, b) => a - b)).to.deep.equal([...Array(n).keys()]);
    }
    expect(new Generator(9).permutation(50)).to.deep.equal(new Generator(9).permutation(50));
    expect(new Generator(9).permutation(50)).to.not.deep.equal([...Array(50).keys()]);
    // chi-squared over the 6 orders of [0, 1, 2]: 5 degrees of freedom, 20.5 is the 0.1% level
    const counts = new Map<string, number>();
    const trials = 6000;
    for (let i = 0; i < trials; i++) {
      const key = g.permutation(3).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size, 'every order appears').to.equal(6);
    const chi2 = [...counts.values()].reduce((s, c) => s + (c - trials / 6) ** 2 / (trials / 6), 0);
    expect(chi2).to.be.lessThan(20.5);
  });

  it('randint(n) stays in [0, n) and reaches both ends', () => {
    const g = new Generator(4);
    const xs = take(2000, () => g.randint(7));
    expect(xs.every((x) => Number.isInteger(x) && x >= 0 && x < 7)).to.equal(true);
    expect(new Set(xs).size).to.equal(7);
    expect(() => g.randint(0)).to.throw('Generator.randint: n must be a positive integer, got 0');
  });
});
