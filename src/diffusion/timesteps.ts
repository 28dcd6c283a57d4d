/**
 * Which timesteps training sees.
 *
 * Ho et al. 2020 (Algorithm 1) draw t uniformly from {0..T-1}. The expected loss is then
 * (1/T) sum_t w(t) L_t, where L_t is the regression error at timestep t and w(t) the loss
 * weighting (objective.ts). Drawing t from another distribution p(t) changes that sum to
 * sum_t p(t) w(t) L_t: the effective weight of timestep t becomes T p(t) w(t), with the
 * network seeing more images at the timesteps p favours. At the ends of the process little is
 * learnable (near t = 0 the image is nearly clean, near t = T-1 it is nearly pure noise), so
 * several recipes spend the images in the middle:
 *
 *   uniform         p(t) = 1 / T                                            (Ho et al. 2020)
 *   log-snr-normal  lambda(t) = ln(abar_t / (1 - abar_t)) ~ N(mean, std^2)
 *
 * The second is the log-normal noise-level distribution of Karras et al. 2022 (EDM: ln sigma ~
 * N(-1.2, 1.2^2), i.e. lambda = -2 ln sigma ~ N(2.4, 2.4^2)) and the logit-normal of Esser et
 * al. 2024 (Stable Diffusion 3: logit(t) ~ N(0, 1), i.e. lambda ~ N(0, 2^2)) written on one
 * scale, lambda, which every noise schedule has. On a discrete schedule lambda(t) falls with t,
 * so timestep t takes the probability of its bin between the midpoints of its neighbours:
 *
 *   p(t) = Phi((lambda_{t-1/2} - mean) / std) - Phi((lambda_{t+1/2} - mean) / std),
 *   lambda_{t+-1/2} = (lambda_t + lambda_{t+-1}) / 2,  lambda_{-1/2} = +inf,  lambda_{T-1/2} = -inf
 *
 * and a draw is the inverse of that distribution's CDF at one uniform number.
 */
import { erf } from '../backend/ref/elementwise';
import type { Generator } from '../random';
import { snr } from './objective';
import type { NoiseSchedule } from './schedule';

export const TIMESTEP_SAMPLINGS = ['uniform', 'log-snr-normal'] as const;
export type TimestepSamplingKind = (typeof TIMESTEP_SAMPLINGS)[number];

export interface TimestepSampling {
  kind: TimestepSamplingKind;
  /** log-snr-normal: the mean and standard deviation of lambda = ln SNR */
  logSnrMean: number;
  logSnrStd: number;
}

/** Algorithm 1's t ~ Uniform({0..T-1}) (the lambda parameters are unused). */
export const UNIFORM_TIMESTEPS: Readonly<TimestepSampling> = { kind: 'uniform', logSnrMean: 0, logSnrStd: 2 };

/** lambda(t) = ln SNR(t) = ln(abar_t / (1 - abar_t)), the log signal-to-noise ratio of x_t. */
export function logSnr(schedule: NoiseSchedule, t: number): number {
  return Math.log(snr(schedule, t));
}

/** The standard normal CDF. */
function normalCdf(x: number): number {
  if (x === Infinity) return 1;
  if (x === -Infinity) return 0;
  return 0.5 * (1 + erf(x / Math.SQRT2));
}

/** p(t) for t = 0..T-1, in float64 (sums to 1). */
export function timestepProbabilities(schedule: NoiseSchedule, sampling: TimestepSampling): Float64Array {
  const T = schedule.T;
  if (sampling.kind === 'uniform') return new Float64Array(T).fill(1 / T);
  if (!(sampling.logSnrStd > 0) || !Number.isFinite(sampling.logSnrMean)) {
    throw new Error(`timestepProbabilities: log-snr-normal needs a finite mean and a std > 0, got mean ${sampling.logSnrMean}, std ${sampling.logSnrStd}`);
  }
  const lambda = Float64Array.from({ length: T }, (_, t) => logSnr(schedule, t));
  // the upper edge of t's bin (towards t - 1, where lambda is larger) and its lower edge (towards t + 1)
  const edge = (i: number) => (i < 0 ? Infinity : i >= T - 1 ? -Infinity : (lambda[i] + lambda[i + 1]) / 2); // edge between i and i + 1
  const cdf = (x: number) => normalCdf((x - sampling.logSnrMean) / sampling.logSnrStd);
  const p = Float64Array.from({ length: T }, (_, t) => Math.max(0, cdf(edge(t - 1)) - cdf(edge(t))));
  const total = p.reduce((a, b) => a + b, 0);
  return p.map((x) => x / total);
}

/** Draws training timesteps from a TimestepSampling, with the run's generator. */
export class TimestepSampler {
  readonly T: number;
  /** cumulative probabilities: cumulative[t] = p(0) + ... + p(t) (null for uniform) */
  private readonly cumulative: Float64Array | null;

  constructor(schedule: NoiseSchedule, sampling: TimestepSampling = UNIFORM_TIMESTEPS) {
    this.T = schedule.T;
    if (sampling.kind === 'uniform') {
      this.cumulative = null;
    } else {
      const p = timestepProbabilities(schedule, sampling);
      this.cumulative = new Float64Array(this.T);
      let s = 0;
      for (let t = 0; t < this.T; t++) this.cumulative[t] = s += p[t];
    }
  }

  /** One timestep. Uniform: generator.randint(T), the draw Algorithm 1 has always made here. */
  draw(generator: Generator): number {
    if (!this.cumulative) return generator.randint(this.T);
    const u = generator.uniform() * this.cumulative[this.T - 1]; // in [0, total): the first t with cumulative[t] > u
    let lo = 0;
    let hi = this.T - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
