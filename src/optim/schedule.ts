/**
 * Learning-rate schedules: a function from the step about to be taken (0, 1, 2, ...) to a
 * learning rate. The trainer sets `optimizer.lr = schedule(step)` before each step.
 *
 *   warmup:  lr(s) = peak * (s + 1) / warmupSteps      for s < warmupSteps
 *   then 'constant': lr(s) = peak
 *        'cosine':   lr(s) = minLr + (peak - minLr) * (1 + cos(pi * p)) / 2,
 *                    p = (s - warmupSteps) / (totalSteps - warmupSteps), capped at 1
 * Ho et al. 2020 warm up for 5000 steps and keep the rate constant afterwards.
 */
export type LrSchedule = (step: number) => number;

export interface LrScheduleOptions {
  /** the peak learning rate */
  lr: number;
  warmupSteps?: number;
  /** what follows the warmup (default 'constant') */
  decay?: 'constant' | 'cosine';
  /** for 'cosine': the step at which lr reaches minLr */
  totalSteps?: number;
  /** for 'cosine': the final learning rate (default 0) */
  minLr?: number;
}

export function lrSchedule(opts: LrScheduleOptions): LrSchedule {
  const { lr, warmupSteps = 0, decay = 'constant', minLr = 0 } = opts;
  if (!(lr >= 0)) throw new Error(`lrSchedule: lr must be >= 0, got ${lr}`);
  if (!(Number.isInteger(warmupSteps) && warmupSteps >= 0)) throw new Error(`lrSchedule: warmupSteps must be a non-negative integer, got ${warmupSteps}`);
  if (decay !== 'constant' && decay !== 'cosine') throw new Error(`lrSchedule: decay must be 'constant' or 'cosine', got '${decay}'`);
  const total = opts.totalSteps;
  if (decay === 'cosine' && !(total !== undefined && Number.isInteger(total) && total > warmupSteps)) {
    throw new Error(`lrSchedule: cosine decay needs an integer totalSteps > warmupSteps (${warmupSteps}), got ${total}`);
  }
  return (step: number) => {
    if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
    if (decay === 'constant') return lr;
    const progress = Math.min(1, (step - warmupSteps) / (total! - warmupSteps));
    return minLr + ((lr - minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
  };
}

/** Linear warmup to `lr`, then constant. */
export const warmupConstant = (lr: number, warmupSteps: number): LrSchedule => lrSchedule({ lr, warmupSteps });

/** Linear warmup to `lr`, then cosine decay to minLr at totalSteps. */
export const warmupCosine = (lr: number, warmupSteps: number, totalSteps: number, minLr = 0): LrSchedule =>
  lrSchedule({ lr, warmupSteps, decay: 'cosine', totalSteps, minLr });
