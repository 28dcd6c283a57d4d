/**
 * The noise schedule of a diffusion model (Ho et al. 2020), computed once, in float64.
 *
 * The forward process adds Gaussian noise in T small steps:
 *   q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)                       (eq. 2)
 * With alpha_t = 1 - beta_t and alphaBar_t = prod_{s<=t} alpha_s, any x_t follows from x_0:
 *   q(x_t | x_0) = N(sqrt(alphaBar_t) x_0, (1 - alphaBar_t) I)                     (eq. 4)
 * and the posterior that the reverse process imitates is
 *   q(x_{t-1} | x_t, x_0) = N(mu~_t, beta~_t I),                                    (eq. 6, 7)
 *   mu~_t   = sqrt(alphaBar_{t-1}) beta_t / (1 - alphaBar_t) x_0
 *           + sqrt(alpha_t) (1 - alphaBar_{t-1}) / (1 - alphaBar_t) x_t
 *   beta~_t = (1 - alphaBar_{t-1}) / (1 - alphaBar_t) beta_t
 *
 * Timesteps are 0-based here: t = 0 .. T-1, where t = 0 is the first noising step (the
 * paper's t = 1), and alphaBar_{-1} = 1.
 */
export type BetaSchedule = 'linear' | 'cosine';

export interface ScheduleConfig {
  numTimesteps: number;
  schedule: BetaSchedule;
  /** linear schedule endpoints (Ho et al. 2020 use 1e-4 .. 0.02 with T = 1000) */
  betaStart: number;
  betaEnd: number;
}

export const DEFAULT_SCHEDULE: ScheduleConfig = { numTimesteps: 1000, schedule: 'linear', betaStart: 1e-4, betaEnd: 0.02 };

export class NoiseSchedule {
  readonly config: ScheduleConfig;
  readonly T: number;
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  readonly alphasCumprod: Float64Array;
  /** alphaBar_{t-1}, with alphaBar_{-1} = 1 */
  readonly alphasCumprodPrev: Float64Array;
  readonly sqrtAlphasCumprod: Float64Array;
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  /** beta~_t of eq. 7; 0 at t = 0, where the reverse step adds no noise */
  readonly posteriorVariance: Float64Array;
  /** the two coefficients of mu~_t in eq. 7: mu~ = coef1 x_0 + coef2 x_t */
  readonly posteriorMeanCoef1: Float64Array;
  readonly posteriorMeanCoef2: Float64Array;

  constructor(config: Partial<ScheduleConfig> = {}) {
    const c = { ...DEFAULT_SCHEDULE, ...config };
    if (!(Number.isInteger(c.numTimesteps) && c.numTimesteps >= 1)) throw new Error(`NoiseSchedule: numTimesteps must be a positive integer, got ${c.numTimesteps}`);
    if (c.schedule !== 'linear' && c.schedule !== 'cosine') throw new Error(`NoiseSchedule: schedule must be 'linear' or 'cosine', got '${c.schedule}'`);
    if (c.schedule === 'linear' && !(c.betaStart > 0 && c.betaEnd < 1 && c.betaStart <= c.betaEnd)) {
      throw new Error(`NoiseSchedule: need 0 < betaStart <= betaEnd < 1, got ${c.betaStart} .. ${c.betaEnd}`);
    }
    this.config = c;
    const T = (this.T = c.numTimesteps);
    this.betas = c.schedule === 'linear' ? linearBetas(T, c.betaStart, c.betaEnd) : cosineBetas(T);
    this.alphas = this.betas.map((b) => 1 - b);
    this.alphasCumprod = new Float64Array(T);
    this.alphasCumprodPrev = new Float64Array(T);
    let prod = 1;
    for (let t = 0; t < T; t++) {
      this.alphasCumprodPrev[t] = prod;
      prod *= this.alphas[t];
      this.alphasCumprod[t] = prod;
    }
    this.sqrtAlphasCumprod = this.alphasCumprod.map(Math.sqrt);
    this.sqrtOneMinusAlphasCumprod = this.alphasCumprod.map((a) => Math.sqrt(1 - a));
    this.posteriorVariance = new Float64Array(T);
    this.posteriorMeanCoef1 = new Float64Array(T);
    this.posteriorMeanCoef2 = new Float64Array(T);
    for (let t = 0; t < T; t++) {
      const abar = this.alphasCumprod[t];
      const abarPrev = this.alphasCumprodPrev[t];
      this.posteriorVariance[t] = ((1 - abarPrev) / (1 - abar)) * this.betas[t];
      this.posteriorMeanCoef1[t] = (Math.sqrt(abarPrev) * this.betas[t]) / (1 - abar);
      this.posteriorMeanCoef2[t] = (Math.sqrt(this.alphas[t]) * (1 - abarPrev)) / (1 - abar);
    }
  }

  checkTimestep(t: number, op: string): void {
    if (!(Number.isInteger(t) && t >= 0 && t < this.T)) throw new Error(`${op}: timestep ${t} is not an integer in [0, ${this.T})`);
  }
}

/** beta_t evenly spaced from betaStart to betaEnd (Ho et al. 2020, section 4). */
export function linearBetas(T: number, betaStart: number, betaEnd: number): Float64Array {
  return Float64Array.from({ length: T }, (_, t) => (T === 1 ? betaStart : betaStart + ((betaEnd - betaStart) * t) / (T - 1)));
}

/**
 * The cosine schedule (Nichol & Dhariwal 2021, eq. 17): alphaBar(t) = f(t) / f(0),
 * f(t) = cos(((t/T + s) / (1 + s)) * pi/2)^2 with s = 0.008; beta_t = 1 - alphaBar(t+1)/alphaBar(t),
 * clipped at 0.999 to avoid a singularity at the end.
 */
export function cosineBetas(T: number, s = 0.008): Float64Array {
  const f = (t: number) => Math.cos((((t / T) + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  return Float64Array.from({ length: T }, (_, t) => Math.min(1 - f(t + 1) / f(t), 0.999));
}
