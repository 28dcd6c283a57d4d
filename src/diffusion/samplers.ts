/**
 * The reverse process: from pure noise x_T back to an image, one denoising step at a time.
 * A sampler knows the schedule, not the model: `step` turns the predicted noise at x_t into
 * x_{t-1} (DDPM) or into x at an earlier timestep (DDIM).
 */
import { full, randn } from '../creation';
import { noGrad } from '../autograd';
import { Generator, defaultGenerator } from '../random';
import { Tensor, tidy } from '../tensor';
import type { NoisePredictor } from './forward';
import type { NoiseSchedule } from './schedule';

export interface StepResult {
  /** the sample one step less noisy */
  prevSample: Tensor;
  /** the model's current estimate of the clean image x_0 */
  predOriginal: Tensor;
}

export interface Sampler {
  readonly name: string;
  readonly schedule: NoiseSchedule;
  /** the timesteps to visit, from most noisy to t = 0 */
  readonly timesteps: number[];
  step(predictedNoise: Tensor, t: number, x: Tensor, generator: Generator): StepResult;
}

/** x_0 implied by x_t and the predicted noise (eq. 4 solved for x_0), optionally clipped to [-1, 1]. */
export function predictOriginal(schedule: NoiseSchedule, x: Tensor, predictedNoise: Tensor, t: number, clip: boolean): Tensor {
  const x0 = x.sub(predictedNoise.mul(schedule.sqrtOneMinusAlphasCumprod[t])).mul(1 / schedule.sqrtAlphasCumprod[t]);
  return clip ? x0.clamp(-1, 1) : x0;
}

export interface DdpmOptions {
  /** clip the predicted x_0 to the data range [-1, 1] before forming the mean */
  clipDenoised?: boolean;
  /** sigma_t^2 = beta~_t (the posterior variance, eq. 7) or beta_t; Ho et al. found both work */
  variance?: 'posterior' | 'beta';
}

/**
 * DDPM ancestral sampling (Algorithm 2). One step:
 *   1. x_0 estimate:  x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)      (clipped if asked)
 *   2. mean:          mu = coef1_t x0 + coef2_t x_t                           (eq. 7)
 *   3. noise:         x_{t-1} = mu + sigma_t z,  z ~ N(0, I), no noise at t = 0
 * Without clipping, 1-2 equal Algorithm 2's  (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t).
 */
export class DdpmSampler implements Sampler {
  readonly name = 'ddpm';
  readonly timesteps: number[];
  readonly clipDenoised: boolean;
  readonly variance: 'posterior' | 'beta';

  constructor(readonly schedule: NoiseSchedule, opts: DdpmOptions = {}) {
    this.clipDenoised = opts.clipDenoised ?? true;
    this.variance = opts.variance ?? 'posterior';
    this.timesteps = Array.from({ length: schedule.T }, (_, i) => schedule.T - 1 - i);
  }

  step(predictedNoise: Tensor, t: number, x: Tensor, generator: Generator): StepResult {
    const s = this.schedule;
    s.checkTimestep(t, 'DdpmSampler.step');
    // BEGIN SOLUTION 9
    const x0 = predictOriginal(s, x, predictedNoise, t, this.clipDenoised); // 1.
    const mean = x0.mul(s.posteriorMeanCoef1[t]).add(x.mul(s.posteriorMeanCoef2[t])); // 2.
    if (t === 0) return { prevSample: mean, predOriginal: x0 };
    const sigma = Math.sqrt(this.variance === 'posterior' ? s.posteriorVariance[t] : s.betas[t]);
    const z = randn(x.shape, { generator }); // 3.
    return { prevSample: mean.add(z.mul(sigma)), predOriginal: x0 };
    // END SOLUTION 9
  }
}

/**
 * n timesteps evenly spaced over 0..T-1, always ending at t = 0: t_i = floor(i T / n), visited
 * from the largest; `prev` maps each to the next one visited (-1 after t = 0: the end).
 */
export function spacedTimesteps(T: number, n: number): { timesteps: number[]; prev: Map<number, number> } {
  const ascending = Array.from({ length: n }, (_, i) => Math.floor((i * T) / n));
  const prev = new Map<number, number>();
  ascending.forEach((t, i) => prev.set(t, i === 0 ? -1 : ascending[i - 1]));
  return { timesteps: ascending.slice().reverse(), prev };
}

export interface DdimOptions {
  /** how many denoising steps (evenly spaced over 0..T-1) */
  numSteps?: number;
  /** 0 = deterministic DDIM; 1 = the DDPM-like amount of noise */
  eta?: number;
  clipDenoised?: boolean;
}

/**
 * DDIM (Song et al. 2021, eq. 12): a non-Markovian reverse process with the same training
 * objective, which can skip timesteps. From x_t to x_s (s < t, or s = -1 meaning the end):
 *   1. x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
 *   2. sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s)          (eq. 16)
 *   3. x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s - sigma^2) eps + sigma z
 * with abar_{-1} = 1, so the last step returns x0 itself.
 */
export class DdimSampler implements Sampler {
  readonly name = 'ddim';
  readonly timesteps: number[];
  readonly eta: number;
  readonly clipDenoised: boolean;
  private readonly prev: Map<number, number>;

  constructor(readonly schedule: NoiseSchedule, opts: DdimOptions = {}) {
    const n = opts.numSteps ?? 50;
    if (!(Number.isInteger(n) && n >= 1 && n <= schedule.T)) throw new Error(`DdimSampler: numSteps must be an integer in [1, ${schedule.T}], got ${n}`);
    this.eta = opts.eta ?? 0;
    if (!(this.eta >= 0)) throw new Error(`DdimSampler: eta must be >= 0, got ${opts.eta}`);
    this.clipDenoised = opts.clipDenoised ?? true;
    // evenly spaced, always ending at t = 0: t_i = floor(i T / n), visited from the largest
    ({ timesteps: this.timesteps, prev: this.prev } = spacedTimesteps(schedule.T, n));
  }

  /** alphaBar at timestep s, with alphaBar_{-1} = 1 */
  private alphaBar(s: number): number {
    return s < 0 ? 1 : this.schedule.alphasCumprod[s];
  }

  step(predictedNoise: Tensor, t: number, x: Tensor, generator: Generator): StepResult {
    const s = this.prev.get(t);
    if (s === undefined) throw new Error(`DdimSampler.step: timestep ${t} is not one of this sampler's ${this.timesteps.length} steps`);
    // BEGIN SOLUTION 10
    const abarT = this.alphaBar(t);
    const abarS = this.alphaBar(s);
    let x0 = predictOriginal(this.schedule, x, predictedNoise, t, false); // 1.
    let eps = predictedNoise;
    if (this.clipDenoised) {
      x0 = x0.clamp(-1, 1);
      eps = x.sub(x0.mul(Math.sqrt(abarT))).mul(1 / Math.sqrt(1 - abarT)); // the noise consistent with the clipped x0
    }
    const sigma = this.eta * Math.sqrt((1 - abarS) / (1 - abarT)) * Math.sqrt(1 - abarT / abarS); // 2.
    let next = x0.mul(Math.sqrt(abarS)).add(eps.mul(Math.sqrt(Math.max(1 - abarS - sigma * sigma, 0)))); // 3.
    if (sigma > 0) next = next.add(randn(x.shape, { generator }).mul(sigma));
    return { prevSample: next, predOriginal: x0 };
    // END SOLUTION 10
  }
}

export interface DpmSolverOptions {
  /** how many model evaluations (timesteps spaced as DDIM's) */
  numSteps?: number;
  /** clip each x_0 prediction to [-1, 1] (the data range) before using it */
  clipDenoised?: boolean;
}

/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2): a second-order multistep
 * solver of the probability-flow ODE, written in the data prediction x0 and in
 * lambda_t = log(alpha_t / sigma_t), alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t).
 * From x_t to x_s (s < t) with h = lambda_s - lambda_t:
 *   1. x0 = (x_t - sigma_t eps) / alpha_t                                (clipped if asked)
 *   2. D  = x0                                           on the first step,
 *      D  = (1 + 1/(2r)) x0 - 1/(2r) x0_prev,  r = h_prev / h   after it (the 2nd-order term)
 *   3. x_s = (sigma_s / sigma_t) x_t - alpha_s (exp(-h) - 1) D
 * With D = x0, step 3 is exactly the deterministic DDIM step (the first-order solver); the
 * correction extrapolates x0 along lambda from the last two predictions, which is what buys
 * quality at 10-25 steps. The last step (to s = -1, where sigma = 0) returns x0 itself, as
 * DDIM's does (first order there: r would be 0). The sampler remembers the previous x0
 * (on the host, so tidy() may free its tensor) and starts afresh at timesteps[0].
 */
export class DpmSolverSampler implements Sampler {
  readonly name = 'dpm-solver++';
  readonly timesteps: number[];
  readonly clipDenoised: boolean;
  private readonly prev: Map<number, number>;
  private history: { t: number; x0: Float32Array; h: number } | null = null;

  constructor(readonly schedule: NoiseSchedule, opts: DpmSolverOptions = {}) {
    const n = opts.numSteps ?? 25;
    if (!(Number.isInteger(n) && n >= 1 && n <= schedule.T)) throw new Error(`DpmSolverSampler: numSteps must be an integer in [1, ${schedule.T}], got ${n}`);
    this.clipDenoised = opts.clipDenoised ?? true;
    ({ timesteps: this.timesteps, prev: this.prev } = spacedTimesteps(schedule.T, n));
  }

  /** alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t), lambda_t = log(alpha_t / sigma_t) */
  private coefficients(t: number) {
    const abar = this.schedule.alphasCumprod[t];
    const alpha = Math.sqrt(abar);
    const sigma = Math.sqrt(1 - abar);
    return { alpha, sigma, lambda: Math.log(alpha / sigma) };
  }

  step(predictedNoise: Tensor, t: number, x: Tensor, generator: Generator): StepResult {
    void generator; // deterministic
    const s = this.prev.get(t);
    if (s === undefined) throw new Error(`DpmSolverSampler.step: timestep ${t} is not one of this sampler's ${this.timesteps.length} steps`);
    if (t === this.timesteps[0]) this.history = null; // a new trajectory
    const x0 = predictOriginal(this.schedule, x, predictedNoise, t, this.clipDenoised); // 1.
    if (s < 0) {
      this.history = null;
      return { prevSample: x0, predOriginal: x0 };
    }
    const now = this.coefficients(t);
    const next = this.coefficients(s);
    const h = next.lambda - now.lambda;
    let d = x0; // 2.
    const last = this.history;
    if (last && this.prev.get(last.t) === t) {
      const r = last.h / h;
      const prevX0 = Tensor.fromBuf(x.backend.fromArray(last.x0), x.shape, x.backend);
      d = x0.mul(1 + 1 / (2 * r)).sub(prevX0.mul(1 / (2 * r)));
    }
    this.history = { t, x0: x0.toArray().slice(), h };
    const prevSample = x.mul(next.sigma / now.sigma).sub(d.mul(next.alpha * (Math.exp(-h) - 1))); // 3.
    return { prevSample, predOriginal: x0 };
  }
}

export interface SampleOptions {
  generator?: Generator;
  /** called once with x_T, the pure noise the reverse process starts from */
  onStart?: (x: Tensor) => void;
  /** called after each step with the timestep just denoised and the new sample (for pictures); the tensors are freed after the call returns */
  onStep?: (t: number, x: Tensor, predOriginal: Tensor) => void;
}

/** One point of the reverse process: x_T first (t = null), then x_{t-1} after the step at t, with that step's predicted x_0. */
export interface ReverseStep {
  /** the timestep just denoised; null for x_T, the starting noise */
  t: number | null;
  /** the sample after this step (x_T at the start) */
  x: Tensor;
  /** the step's prediction of the clean image; null at the start */
  predOriginal: Tensor | null;
}

/**
 * The reverse process one step at a time, for a caller that shows each step (the playground
 * draws one per animation frame) or stops early: it yields x_T, then x_{t-1} and the predicted
 * x_0 after each step, and returns the final sample. A yielded x is valid until the step after
 * it; a yielded predOriginal is freed when the generator resumes, so copy what you keep
 * (toArray()). `sample` below runs it to the end: the same numbers.
 */
export function* reverseProcess(model: NoisePredictor, sampler: Sampler, shape: number[], generator: Generator = defaultGenerator): globalThis.Generator<ReverseStep, Tensor, void> {
  let x = noGrad(() => randn(shape, { generator })); // x_T
  let done = false;
  try {
    yield { t: null, x, predOriginal: null };
    for (const t of sampler.timesteps) {
      // tidy: free this step's intermediate tensors now (a GPU would otherwise fill up)
      const { prevSample, predOriginal } = noGrad(() =>
        tidy(() => {
          const predictedNoise = model(x, full([shape[0]], t)); // eps_theta(x_t, t)
          const { prevSample, predOriginal } = sampler.step(predictedNoise, t, x, generator);
          // a copy of our own to hand out (the sampler's may be prevSample itself, or a tensor it keeps)
          return { prevSample, predOriginal: predOriginal.clone() };
        }),
      );
      x.dispose();
      x = prevSample;
      try {
        yield { t, x, predOriginal };
      } finally {
        predOriginal.dispose();
      }
    }
    done = true;
    return x;
  } finally {
    if (!done) x.dispose(); // stopped early: nobody else holds x
  }
}

/** Run the reverse process from x_T ~ N(0, I) to x_0 (Algorithm 2's loop). */
export function sample(model: NoisePredictor, sampler: Sampler, shape: number[], opts: SampleOptions = {}): Tensor {
  const steps = reverseProcess(model, sampler, shape, opts.generator ?? defaultGenerator);
  for (let r = steps.next(); ; r = steps.next()) {
    if (r.done) return r.value;
    const { t, x, predOriginal } = r.value;
    if (t === null) opts.onStart?.(x);
    else opts.onStep?.(t, x, predOriginal!);
  }
}
