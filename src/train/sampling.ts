/**
 * What sampling a trained UNet needs, apart from the trainer: the sampler by name, the
 * conditioner of a run, and the noise predictor the samplers call (guided, and turned into an
 * eps prediction from what the network predicts). The command line (trainer.ts, sample) and
 * the browser playground use these same functions.
 */
import { asNoisePredictor, guidedPredictor, type Prediction } from '../diffusion/objective';
import type { NoisePredictor } from '../diffusion/forward';
import { DdimSampler, DdpmSampler, DpmSolverSampler, type Sampler } from '../diffusion/samplers';
import type { NoiseSchedule } from '../diffusion/schedule';
import type { ImageDataset } from '../data/dataset';
import type { UNet } from '../nn/unet';
import { ClassConditioner, TextConditioner, type ConditionKind, type Conditioner } from './condition';
import { noisePredictor, type DataParallel } from './parallel';

export type SamplerKind = 'ddpm' | 'ddim' | 'dpm-solver++';
export const SAMPLER_KINDS: readonly SamplerKind[] = ['ddim', 'ddpm', 'dpm-solver++'];

/** DDPM (all T steps), DDIM (`steps`, noise `eta`) or DPM-Solver++(2M) (`steps`). */
export function makeSampler(kind: SamplerKind, schedule: NoiseSchedule, steps: number, eta = 0): Sampler {
  if (kind === 'ddpm') return new DdpmSampler(schedule);
  if (kind === 'dpm-solver++') return new DpmSolverSampler(schedule, { numSteps: Math.min(steps, schedule.T) });
  return new DdimSampler(schedule, { numSteps: Math.min(steps, schedule.T), eta });
}

/** The conditioner of a run: null for an unconditional one. */
export function makeConditioner(kind: ConditionKind, dataset: Pick<ImageDataset, 'numClasses' | 'classNames'>): Conditioner | null {
  if (kind === 'class') return new ClassConditioner(dataset.numClasses);
  if (kind === 'text') return TextConditioner.forDataset(dataset);
  return null;
}

/** What to ask a conditional network for: the condition rows of the images (a class, or a prompt's tokens, each) and the guidance scale. */
export interface SamplingCondition {
  labels: Int32Array;
  guidance: number;
}

/**
 * What the samplers call: the network (or its batches split over `parallel`), guided towards
 * `condition`'s classes when given (the null class otherwise), turned into an eps prediction.
 */
export function samplerInput(model: UNet, parallel: DataParallel | null, schedule: NoiseSchedule, prediction: Prediction, condition?: SamplingCondition): NoisePredictor {
  let predict = noisePredictor(model, parallel);
  if (condition) predict = guidedPredictor(predict, condition.labels, condition.guidance, model.nullCondition(1));
  return asNoisePredictor(predict, schedule, prediction);
}
