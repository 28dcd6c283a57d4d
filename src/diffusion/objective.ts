/**
 * What the network predicts, and how each timestep's loss is weighted.
 *
 * The forward process writes x_t = a x_0 + s eps with a = sqrt(abar_t), s = sqrt(1 - abar_t),
 * a^2 + s^2 = 1. Any one of three quantities, with x_t known, gives the other two:
 *
 *   'eps' (Ho et al. 2020):            the noise eps
 *   'x0':                              the clean image x_0
 *   'v'   (Salimans & Ho 2022, section 4): v = a eps - s x_0, the "velocity"
 *
 *   from eps:  x_0 = (x_t - s eps) / a
 *   from x_0:  eps = (x_t - a x_0) / s
 *   from v:    x_0 = a x_t - s v,   eps = s x_t + a v
 *
 * eps-prediction is poor near t = T (x_0 = (x_t - s eps) / a divides by a -> 0) and x_0-
 * prediction near t = 0 (eps divides by s -> 0); v stays well scaled at both ends, which is
 * why Salimans & Ho use it for few-step samplers, and it trains faster at our budget too.
 *
 * Loss weighting. The plain objective is mean ||target - output||^2 for every t alike. With
 * SNR(t) = abar_t / (1 - abar_t), the eps-loss equals the x_0-loss weighted by SNR(t), and
 * the v-loss the x_0-loss weighted by SNR(t) + 1. Hang et al. 2023 (min-SNR-gamma) argue the
 * low-noise steps, where SNR is huge, then dominate and conflict with the rest, and cap the
 * x_0-weight at gamma: w_x0(t) = min(SNR(t), gamma). In each prediction's own units:
 *
 *   'eps':  w(t) = min(SNR, gamma) / SNR
 *   'v':    w(t) = min(SNR, gamma) / (SNR + 1)
 *   'x0':   w(t) = min(SNR, gamma)
 *
 * Hang et al. use gamma = 5. The loss of a batch is then (1/B) sum_i w(t_i) mse_i.
 */
import { concat } from '../ops/shape';
import { mseLoss } from '../ops/loss';
import { Tensor } from '../tensor';
import { perImage, type NoisePredictor } from './forward';
import type { NoiseSchedule } from './schedule';

export type Prediction = 'eps' | 'v' | 'x0';
export const PREDICTIONS: readonly Prediction[] = ['eps', 'v', 'x0'];
export type LossWeighting = 'none' | 'min-snr';
export const LOSS_WEIGHTINGS: readonly LossWeighting[] = ['none', 'min-snr'];

/** The training objective: what the network outputs and how timesteps are weighted. */
export interface Objective {
  prediction: Prediction;
  weighting: LossWeighting;
  /** gamma of min-SNR-gamma (Hang et al. 2023 use 5) */
  snrGamma: number;
}

/** Ho et al. 2020's objective: predict eps, every timestep weighted alike. */
export const EPS_OBJECTIVE: Readonly<Objective> = { prediction: 'eps', weighting: 'none', snrGamma: 5 };

/** SNR(t) = abar_t / (1 - abar_t): signal power over noise power in x_t. */
export function snr(schedule: NoiseSchedule, t: number): number {
  const abar = schedule.alphasCumprod[t];
  return abar / (1 - abar);
}

/** The per-timestep loss weights w(t_i) of the objective (all 1 for 'none'), in float64. */
export function lossWeights(schedule: NoiseSchedule, objective: Objective, t: ArrayLike<number>): Float64Array {
  return Float64Array.from(t, (ti) => {
    if (objective.weighting === 'none') return 1;
    const r = snr(schedule, ti);
    const capped = Math.min(r, objective.snrGamma);
    return objective.prediction === 'eps' ? capped / r : objective.prediction === 'v' ? capped / (r + 1) : capped;
  });
}

/** What the network is trained to output for x_t = a x0 + s noise: noise, x0, or v = a noise - s x0. */
export function predictionTarget(schedule: NoiseSchedule, prediction: Prediction, x0: Tensor, noise: Tensor, t: ArrayLike<number>): Tensor {
  if (prediction === 'eps') return noise;
  if (prediction === 'x0') return x0;
  const a = perImage(Array.from(t, (ti) => schedule.sqrtAlphasCumprod[ti]), x0);
  const s = perImage(Array.from(t, (ti) => schedule.sqrtOneMinusAlphasCumprod[ti]), x0);
  return noise.mul(a).sub(x0.mul(s));
}

/** The loss of a batch: mean over images of w(t_i) * mean over pixels of (output - target)^2. */
export function weightedMse(schedule: NoiseSchedule, objective: Objective, output: Tensor, target: Tensor, t: ArrayLike<number>): Tensor {
  if (objective.weighting === 'none') return mseLoss(output, target); // the plain objective, exactly as before
  if (output.shape.join() !== target.shape.join()) throw new Error(`weightedMse: output [${output.shape}] and target [${target.shape}] differ in shape`);
  return output.sub(target).square().mul(perImage(lossWeights(schedule, objective, t), output)).mean();
}

/** The noise eps implied by the network's output at x_t (see the table at the top). */
export function epsFromOutput(schedule: NoiseSchedule, prediction: Prediction, output: Tensor, x: Tensor, t: ArrayLike<number>): Tensor {
  if (prediction === 'eps') return output;
  const a = perImage(Array.from(t, (ti) => schedule.sqrtAlphasCumprod[ti]), x);
  const s = perImage(Array.from(t, (ti) => schedule.sqrtOneMinusAlphasCumprod[ti]), x);
  if (prediction === 'v') return x.mul(s).add(output.mul(a)); // eps = s x_t + a v
  return x.sub(output.mul(a)).div(s); // eps = (x_t - a x_0) / s
}

/** Timesteps of a [B] tensor as integers (the samplers pass them as floats). */
function timestepsOf(t: Tensor): Int32Array {
  return Int32Array.from(t.toArray(), (v) => Math.round(v));
}

/**
 * The samplers speak eps: wrap a network that predicts `prediction` so that it returns eps.
 * For 'eps' the network itself is returned.
 */
export function asNoisePredictor(model: NoisePredictor, schedule: NoiseSchedule, prediction: Prediction): NoisePredictor {
  if (prediction === 'eps') return model;
  return (x, t, labels) => epsFromOutput(schedule, prediction, model(x, t, labels), x, timestepsOf(t));
}

/**
 * Classifier-free guidance (Ho & Salimans 2021): mix the network's conditional and
 * unconditional outputs,
 *   out = out(x, t, null) + w (out(x, t, c) - out(x, t, null))
 * w = 0 is the unconditional model, w = 1 the conditional one, w > 1 pushes the sample
 * further towards what makes it look like its class. Both outputs come from one batched
 * forward pass of 2B images ([x; x] with [c; null]); w = 0 and w = 1 need one pass of B.
 * The mix is linear, so guiding eps, v or x0 predictions gives the same sampler input.
 * `labels` are the conditions of the B images (a class each, or a row of token ids each);
 * `nullRow` is one image's null condition (the null class, or the empty prompt's row).
 */
export function guidedPredictor(model: NoisePredictor, labels: Int32Array, guidance: number, nullRow: Int32Array): NoisePredictor {
  if (!(Number.isFinite(guidance) && guidance >= 0)) throw new Error(`guidedPredictor: guidance must be a finite number >= 0, got ${guidance}`);
  const k = nullRow.length; // ids per image: 1 for a class, the row length for a prompt
  const images = labels.length / k;
  const nulls = new Int32Array(labels.length);
  for (let i = 0; i < images; i++) nulls.set(nullRow, i * k);
  return (x, t) => {
    const b = x.shape[0];
    if (b !== images) throw new Error(`guidedPredictor: a batch of ${b} images for ${images} conditions`);
    // BEGIN SOLUTION 11
    if (guidance === 0) return model(x, t, nulls);
    if (guidance === 1) return model(x, t, labels);
    const both = new Int32Array(2 * labels.length);
    both.set(labels, 0);
    both.set(nulls, labels.length);
    const out = model(concat([x, x], 0), concat([t, t], 0), both);
    const cond = out.slice(0, 0, b);
    const uncond = out.slice(0, b, 2 * b);
    return uncond.add(cond.sub(uncond).mul(guidance));
    // END SOLUTION 11
  };
}
