/**
 * The loop of a plain supervised trainer (`train-ae`, `train-upsampler`): per step one batch,
 * its loss, the gradient clipped, an Adam step and a row of the loss log; an atomic
 * checkpoint every N steps and at the end; Ctrl-C finishes the step, saves and stops; a loss
 * or gradient that is not finite stops the run before the update and without saving, so the
 * last checkpoint stays the last good one. (The DDPM trainer, trainer.ts, has a loop of its
 * own: it also keeps an EMA of the weights, writes sample grids and evaluates.)
 */
import * as fs from 'fs';
import type { Tensor } from '../tensor';
import type { Optimizer } from '../optim/optimizer';
import { clipGradNorm } from '../optim/clip';
import type { ProgressBar } from './progress';

export interface LoopOptions {
  /** the command, which starts every message: 'train-ae' */
  name: string;
  /** the step the run starts from (0, or the resumed checkpoint's) and the last one */
  from: number;
  steps: number;
  checkpointEvery: number;
  checkpointFile: string;
  progress: ProgressBar;
  parameters: Tensor[];
  optimizer: Optimizer;
  /** the learning rate of each step (0-based), when it is scheduled */
  lrAt?: (step: number) => number;
  /** clip the gradient's global norm to this (0 = off) */
  gradClip: number;
  /** the loss of the next batch, its graph built, and the numbers logged beside it */
  lossOf: () => { loss: Tensor; parts: number[] };
  /** after each update: write the log row of this step */
  record: (step: number, loss: number, parts: number[]) => void;
  /** write the checkpoint of this step */
  save: (step: number) => void;
  shouldStop?: () => boolean;
}

export interface LoopResult {
  step: number;
  stopped: 'done' | 'interrupted' | 'nonfinite';
}

export async function runLoop(o: LoopOptions): Promise<LoopResult> {
  let step = o.from;
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130); // a second Ctrl-C exits at once
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  let stopped: LoopResult['stopped'] = 'done';
  try {
    while (step < o.steps) {
      o.optimizer.zeroGrad();
      if (o.lrAt) o.optimizer.lr = o.lrAt(step);
      const { loss: lossTensor, parts } = o.lossOf();
      const loss = lossTensor.item();
      if (!Number.isFinite(loss)) {
        stopped = 'nonfinite';
        o.progress.log(`${o.name}: the loss became ${loss} at step ${step + 1}; stopping without saving. The last good checkpoint is ${fs.existsSync(o.checkpointFile) ? o.checkpointFile : '(none yet)'}.`);
        break;
      }
      lossTensor.backward();
      const norm = clipGradNorm(o.parameters, o.gradClip > 0 ? o.gradClip : Infinity);
      if (!Number.isFinite(norm)) {
        stopped = 'nonfinite';
        o.progress.log(`${o.name}: the gradient norm became ${norm} at step ${step + 1}; stopping before the update.`);
        break;
      }
      o.optimizer.step();
      step++;
      o.progress.update(step, loss);
      o.record(step, loss, parts);
      // let the event loop run, so that a Ctrl-C (SIGINT) is noticed between steps
      await new Promise((resolve) => setImmediate(resolve));
      const last = step === o.steps;
      if (step % o.checkpointEvery === 0 || last) o.save(step);
      if (interrupted || o.shouldStop?.()) {
        if (step % o.checkpointEvery !== 0 && !last) o.save(step);
        stopped = 'interrupted';
        o.progress.log(`${o.name}: stopped at step ${step}; checkpoint saved to ${o.checkpointFile} (continue with --resume)`);
        break;
      }
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    o.progress.finish();
  }
  return { step, stopped };
}
