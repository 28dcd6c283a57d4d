/**
 * The loop of a plain supervised trainer (`train-ae`, `train-upsampler`): per step one batch,
 * its loss, the gradient clipped, an Adam step and a row of the loss log; an atomic
 * checkpoint every N steps and at the end; Ctrl-C finishes the step, saves and stops; a loss
 * or gradient that is not finite stops the run before the update and without saving, so the
 * last checkpoint stays the last good one. (The DDPM trainer, trainer.ts, has a loop of its
 * own: it also keeps an EMA of the weights, writes sample grids and evaluates.)
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadTrainingCheckpoint, readTrainingCheckpointInfo, saveTrainingCheckpoint } from '../checkpoint/training';
import type { DataLoader } from '../data/loader';
import type { Module } from '../nn/module';
import type { Generator } from '../random';
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

/** The parts of a plain trainer's run that its checkpoint holds. */
export interface RunState {
  /** the command: 'train-ae' */
  name: string;
  /** config.kind of its checkpoints, and the article and noun a message names it by */
  kind: string;
  noun: string;
  model: Module & { config: unknown };
  optimizer: Optimizer;
  /** the run's own random draws, stored under rng[rngKey] */
  generator: Generator;
  rngKey: string;
  loader: DataLoader;
}

/** What to continue a checkpoint of each kind with. */
const CONTINUE_WITH: Record<string, string> = {
  autoencoder: 'an autoencoder continues with tiny-ddpm train-ae --resume',
  upsampler: 'an upsampler continues with tiny-ddpm train-upsampler --resume',
};

/**
 * Continue a run from its checkpoint: refused (one line) when the file is missing, of another
 * kind, or holds another model config; else the weights, Adam's state, the generator and the
 * loader's position are restored. Returns the step and the training seconds before it.
 */
export function resumeRun(file: string, r: RunState): { step: number; elapsedBefore: number } {
  if (!fs.existsSync(file)) throw new Error(`${r.name}: --resume: no checkpoint at '${file}'`);
  // the config, read once for both checks (a file that is not a training checkpoint has no kind, as in checkpointKind)
  const saved = ((): { kind?: string; modelConfig?: unknown } | null => {
    try {
      return readTrainingCheckpointInfo(file).config as { kind?: string; modelConfig?: unknown } | null;
    } catch {
      return null;
    }
  })();
  const kind = saved?.kind;
  if (!saved || kind !== r.kind) throw new Error(`${r.name}: --resume: '${file}' is not ${r.noun} checkpoint (${CONTINUE_WITH[kind ?? ''] ?? 'a diffusion run continues with tiny-ddpm train --resume'})`);
  if (JSON.stringify(saved.modelConfig) !== JSON.stringify(r.model.config)) {
    throw new Error(`${r.name}: --resume: '${file}' holds ${r.noun} ${JSON.stringify(saved.modelConfig)}, this run asks for ${JSON.stringify(r.model.config)}`);
  }
  const info = loadTrainingCheckpoint(file, { model: r.model, optimizer: r.optimizer });
  r.generator.setState((info.rng as Record<string, ReturnType<Generator['getState']>>)[r.rngKey]);
  r.loader.setState(info.dataLoader as ReturnType<DataLoader['getState']>);
  return { step: info.step, elapsedBefore: (info.extra as { elapsedSeconds?: number } | null)?.elapsedSeconds ?? 0 };
}

/** Write the checkpoint of step `step` (atomically), with the run's config and training seconds. */
export function saveRun(file: string, step: number, r: RunState, config: object, elapsedSeconds: number): void {
  saveTrainingCheckpoint(file, { step, model: r.model, optimizer: r.optimizer, config, rng: { [r.rngKey]: r.generator.getState() }, dataLoader: r.loader.getState(), extra: { elapsedSeconds } });
}

/**
 * Start a run's files, after every check (so a bad run writes nothing): the folder,
 * config.json, and loss.csv with its header and the rows up to `step` of an earlier session
 * kept (a resumed run does not list a step twice). Returns the kept rows as numbers.
 */
export function openRunFiles(out: string, config: object, lossFile: string, header: string, step: number): number[][] {
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  const kept = fs.existsSync(lossFile) ? fs.readFileSync(lossFile, 'utf8').trim().split('\n').slice(1).filter((l) => Number(l.split(',')[0]) <= step) : [];
  fs.writeFileSync(lossFile, [header, ...kept].join('\n') + '\n');
  return kept.map((l) => l.split(',').map(Number));
}
