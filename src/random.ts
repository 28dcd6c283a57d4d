/**
 * Seeded random numbers, the same on every platform.
 *
 * xoshiro128** (Blackman & Vigna 2018): four 32-bit words of state, integer ops only
 * (Math.imul, >>>), so a seed gives the same stream in every JavaScript engine.
 * The 32-bit seed is spread over the state with splitmix32, as the authors advise.
 * Normals come from the Box-Muller transform, two at a time.
 */
export interface GeneratorState {
  s: [number, number, number, number];
  /** the second normal of the last Box-Muller pair, not yet handed out */
  spare: number | null;
}

function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

export class Generator {
  private s = new Uint32Array(4);
  private spare: number | null = null;

  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  manualSeed(seed: number): this {
    if (!Number.isInteger(seed)) throw new Error(`Generator.manualSeed: seed must be an integer, got ${seed}`);
    const sm = splitmix32(seed);
    for (let i = 0; i < 4; i++) this.s[i] = sm();
    this.spare = null;
    return this;
  }

  /** Next raw 32-bit unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 24 random bits: every value is exactly a float32. */
  uniform(): number {
    return (this.nextUint32() >>> 8) * 5.960464477539063e-8; // 2^-24
  }

  /** Standard normal N(0, 1) by Box-Muller. */
  normal(): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    const u1 = 1 - this.uniform(); // (0, 1]: log never sees 0
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** Integer uniform in [0, n). */
  randint(n: number): number {
    if (!(Number.isInteger(n) && n > 0)) throw new Error(`Generator.randint: n must be a positive integer, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** Fisher-Yates shuffle of [0, n) (seeded). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor((this.nextUint32() / 4294967296) * (i + 1));
      [p[i], p[j]] = [p[j], p[i]];
    }
    return p;
  }

  getState(): GeneratorState {
    return { s: [this.s[0], this.s[1], this.s[2], this.s[3]], spare: this.spare };
  }

  setState(state: GeneratorState): this {
    if (!state || !Array.isArray(state.s) || state.s.length !== 4) throw new Error('Generator.setState: expected {s: [4 uint32], spare}');
    for (let i = 0; i < 4; i++) this.s[i] = state.s[i] >>> 0;
    this.spare = state.spare ?? null;
    return this;
  }
}

/** The default generator that rand/randn/init use when none is passed. */
export const defaultGenerator = new Generator(0);

/** Seed the default generator (like torch.manual_seed). */
export function manualSeed(seed: number): void {
  defaultGenerator.manualSeed(seed);
}
