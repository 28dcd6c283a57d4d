/**
 * The forward (noising) process and the training objective of DDPM (Ho et al. 2020).
 */
import { randn } from '../creation';
import { Generator, defaultGenerator } from '../random';
import { Tensor } from '../tensor';
import type { NoiseSchedule } from './schedule';
import { EPS_OBJECTIVE, predictionTarget, weightedMse, type Objective } from './objective';
import type { TimestepSampler } from './timesteps';

/**
 * A network that predicts the noise in x_t: eps_theta(x_t, t), with t a [B] tensor of
 * timesteps and, for a class-conditional network, the class of each image (its null class
 * for the unconditional prediction; see objective.ts for networks that predict v or x_0).
 */
export type NoisePredictor = (x: Tensor, t: Tensor, labels?: Int32Array) => Tensor;

/** Per-image coefficients as a [B, 1, 1, 1] tensor, broadcast over the image. */
export function perImage(values: ArrayLike<number>, x: Tensor): Tensor {
  const shape = [values.length, ...x.shape.slice(1).map(() => 1)];
  return Tensor.fromBuf(x.backend.fromArray(Float32Array.from(values)), shape, x.backend);
}

function checkTimesteps(schedule: NoiseSchedule, t: ArrayLike<number>, batch: number, op: string) {
  if (t.length !== batch) throw new Error(`${op}: ${t.length} timesteps for a batch of ${batch}`);
  for (let i = 0; i < t.length; i++) schedule.checkTimestep(t[i], op);
}

/**
 * Sample x_t ~ q(x_t | x_0) in one shot (eq. 4, reparameterized):
 *   x_t = sqrt(alphaBar_t) x_0 + sqrt(1 - alphaBar_t) noise
 * `noise` is the ground truth that the network learns to predict.
 */
export function addNoise(schedule: NoiseSchedule, x0: Tensor, noise: Tensor, t: ArrayLike<number>): Tensor {
  checkTimesteps(schedule, t, x0.shape[0], 'addNoise');
  if (noise.shape.join() !== x0.shape.join()) throw new Error(`addNoise: noise [${noise.shape}] and x0 [${x0.shape}] differ in shape`);
  // BEGIN SOLUTION 8
  const signal = perImage(Array.from(t, (ti) => schedule.sqrtAlphasCumprod[ti]), x0);
  const noiseScale = perImage(Array.from(t, (ti) => schedule.sqrtOneMinusAlphasCumprod[ti]), x0);
  return x0.mul(signal).add(noise.mul(noiseScale));
  // END SOLUTION 8
}

export interface LossResult {
  loss: Tensor;
  t: Int32Array;
  noise: Tensor;
  noisy: Tensor;
}

/**
 * Draw what Algorithm 1 draws for a batch: t ~ Uniform({0..T-1}) per image (or from
 * `timesteps`, timesteps.ts), then eps ~ N(0, I).
 */
export function drawTimestepsAndNoise(schedule: NoiseSchedule, shape: number[], generator: Generator = defaultGenerator, timesteps?: TimestepSampler): { t: Int32Array; noise: Tensor } {
  if (timesteps && timesteps.T !== schedule.T) throw new Error(`drawTimestepsAndNoise: the timestep sampler is for T = ${timesteps.T}, the schedule has T = ${schedule.T}`);
  const t = Int32Array.from({ length: shape[0] }, () => (timesteps ? timesteps.draw(generator) : generator.randint(schedule.T)));
  const noise = randn(shape, { generator });
  return { t, noise };
}

export interface DenoisingLossOptions {
  /** what the network predicts and how timesteps are weighted (default: eps, unweighted, as Ho et al.) */
  objective?: Objective;
  /** the class of each image, for a class-conditional network (its null class where dropped) */
  labels?: Int32Array;
}

/**
 * The denoising loss for given t and noise. With the default objective (Ho et al. 2020):
 *   L = mean || noise - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise, t) ||^2
 * Other objectives change the target (v or x_0) and weight each image's term by w(t_i).
 */
export function denoisingLoss(model: NoisePredictor, schedule: NoiseSchedule, x0: Tensor, t: Int32Array, noise: Tensor, opts: DenoisingLossOptions = {}): LossResult {
  const objective = opts.objective ?? EPS_OBJECTIVE;
  const noisy = addNoise(schedule, x0, noise, t);
  const output = model(noisy, Tensor.fromBuf(x0.backend.fromArray(Float32Array.from(t)), [t.length], x0.backend), opts.labels);
  const target = predictionTarget(schedule, objective.prediction, x0, noise, t);
  return { loss: weightedMse(schedule, objective, output, target, t), t, noise, noisy };
}

/**
 * The simplified DDPM objective (Algorithm 1, eq. 14): for each image draw t uniformly,
 * noise it, and regress the network's prediction onto the noise that was added:
 *   L = || noise - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise, t) ||^2
 */
export function diffusionLoss(model: NoisePredictor, schedule: NoiseSchedule, x0: Tensor, generator: Generator = defaultGenerator): LossResult {
  const { t, noise } = drawTimestepsAndNoise(schedule, x0.shape, generator);
  return denoisingLoss(model, schedule, x0, t, noise);
}
