/**
 * One optimizer step of DDPM training (Ho et al. 2020, Algorithm 1), shared by the command
 * line's trainer (trainer.ts) and the browser playground, so both train with the same code:
 *
 *   t ~ Uniform({0..T-1}) (or timesteps' p(t)), eps ~ N(0, I)   drawTimestepsAndNoise
 *   the class (or, for condDropout of them, the null class)   conditioner.training
 *   loss = w(t) |target(x0, eps, t) - net(x_t, t, class)|^2   accumulateGradients
 *   clip the gradient's global norm, Adam, then the EMA of the weights
 *
 * A loss or gradient norm that is not finite stops before the update: the weights, the
 * optimizer and the EMA are left as they were, and the caller decides what to say.
 */
import { tensor } from '../creation';
import { drawTimestepsAndNoise } from '../diffusion/forward';
import type { Objective } from '../diffusion/objective';
import type { NoiseSchedule } from '../diffusion/schedule';
import type { TimestepSampler } from '../diffusion/timesteps';
import type { UNet } from '../nn/unet';
import { clipGradNorm } from '../optim/clip';
import type { EMA } from '../optim/ema';
import type { Optimizer } from '../optim/optimizer';
import type { Generator } from '../random';
import type { Conditioner } from './condition';
import { accumulateGradients, type DataParallel } from './parallel';

export interface StepParts {
  model: UNet;
  optimizer: Optimizer;
  ema: EMA;
  schedule: NoiseSchedule;
  /** null: an unconditional run */
  conditioner: Conditioner | null;
  objective: Objective;
  /** where t is drawn from (timesteps.ts); absent: uniform, as Algorithm 1 */
  timesteps?: TimestepSampler;
  /** draws t, the noise and the dropped conditions */
  generator: Generator;
  /** share of images trained with the null condition (classifier-free guidance) */
  condDropout: number;
  /** clip the gradient's global norm to this (0 = no clipping) */
  gradClip: number;
  /** images per forward/backward pass on this thread */
  microBatch: number;
  /** when set, the batch is split over its threads */
  parallel?: DataParallel | null;
}

/** A batch as the DataLoader gives it: images in [-1, 1] and their classes. */
export interface StepBatch {
  images: Float32Array;
  shape: number[];
  labels?: Int32Array;
}

export interface StepOutcome {
  loss: number;
  /** the global gradient norm before clipping (NaN when the loss already was not finite) */
  gradNorm: number;
  /** false: the loss or the gradient norm was not finite, and nothing was updated */
  updated: boolean;
}

/** One step at learning rate `lr`. */
export function optimizationStep(p: StepParts, batch: StepBatch, lr: number): StepOutcome {
  const x0 = tensor(batch.images, batch.shape); // [B, C, H, W] in [-1, 1]
  p.optimizer.lr = lr;
  const { t, noise } = drawTimestepsAndNoise(p.schedule, x0.shape, p.generator, p.timesteps);
  const labels = p.conditioner?.training(batch.labels!, p.condDropout, p.generator);
  p.optimizer.zeroGrad();
  const loss = p.parallel
    ? p.parallel.lossAndGradients(p.model, p.schedule, x0, t, noise, labels) // shards on every core
    : accumulateGradients(p.model, p.schedule, x0, t, noise, p.microBatch, 1, { objective: p.objective, labels }); // in passes of microBatch images
  if (!Number.isFinite(loss)) return { loss, gradNorm: NaN, updated: false };
  // the global gradient norm (clipped to gradClip when set) is also the NaN guard on gradients
  const gradNorm = clipGradNorm(p.model.parameters(), p.gradClip > 0 ? p.gradClip : Infinity);
  if (!Number.isFinite(gradNorm)) return { loss, gradNorm, updated: false };
  p.optimizer.step();
  p.ema.update(p.model);
  return { loss, gradNorm, updated: true };
}
