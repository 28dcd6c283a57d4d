/** The bodies of `tiny-ddpm sample` and `tiny-ddpm noise`. */
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors } from '../checkpoint/safetensors';
import { loadModelWeights, readTrainingCheckpointInfo, isTrainingCheckpoint } from '../checkpoint/training';
import { loadDataset } from '../data';
import { getImage } from '../data/dataset';
import { NoiseSchedule, type BetaSchedule } from '../diffusion/schedule';
import { writeGridPng } from '../image/png';
import { createUNet, UNET_PRESETS, type UNetConfig } from '../nn/unet';
import { Generator } from '../random';
import { concat } from '../ops/shape';
import { makeSampler } from '../train/trainer';
import { autoWorkers, DataParallel, noisePredictor } from '../train/parallel';
import type { Backend } from '../backend/backend';
import { getBackend } from '../backend/registry';
import { sampleWithSnapshots, writeNoiseStripPng, writeReverseProcessPng, writeSingleImages } from '../train/pictures';

export interface SampleArgs {
  checkpoint: string;
  n: number;
  sampler: 'ddpm' | 'ddim';
  steps: number;
  eta: number;
  seed: number;
  weights: 'ema' | 'model';
  batchSize: number;
  model?: string;
  imageSize: number;
  channels: number;
  /** threads that share each batch (data parallelism), or 'auto' (one per core on the CPU backends) */
  workers: number | 'auto';
  out?: string;
}

function positiveInt(name: string, v: number) {
  if (!(Number.isInteger(v) && v >= 1)) throw new Error(`sample: --${name} must be a positive integer, got ${v}`);
}

export async function sampleCommand(a: SampleArgs, log: (s: string) => void, startBackend: () => Backend | void = () => {}): Promise<void> {
  positiveInt('n', a.n);
  positiveInt('steps', a.steps);
  positiveInt('batch-size', a.batchSize);
  if (a.workers !== 'auto') positiveInt('workers', a.workers);
  if (!(a.eta >= 0)) throw new Error(`sample: --eta must be >= 0, got ${a.eta}`);
  if (!fs.existsSync(a.checkpoint)) throw new Error(`sample: no checkpoint at '${a.checkpoint}'`);

  const backend = startBackend() ?? getBackend();
  // Rebuild the model: a training checkpoint carries its config; a weights file needs --model.
  const file = readSafetensors(a.checkpoint);
  let modelConfig: UNetConfig;
  let imageShape: number[];
  let timesteps = 1000;
  let betaSchedule: BetaSchedule = 'linear';
  if (isTrainingCheckpoint(file)) {
    const cfg = readTrainingCheckpointInfo(a.checkpoint).config as { modelConfig: UNetConfig; imageShape: number[]; timesteps: number; betaSchedule: BetaSchedule };
    modelConfig = cfg.modelConfig;
    imageShape = cfg.imageShape;
    timesteps = cfg.timesteps;
    betaSchedule = cfg.betaSchedule;
  } else {
    if (!a.model) throw new Error(`sample: '${a.checkpoint}' is a plain weights file; say which network it holds with --model (${Object.keys(UNET_PRESETS).join(', ')})`);
    const preset = UNET_PRESETS[a.model];
    if (!preset) throw new Error(`sample: unknown --model '${a.model}'; valid presets: ${Object.keys(UNET_PRESETS).join(', ')}`);
    modelConfig = { ...preset, inChannels: a.channels, channelMults: [...preset.channelMults], attnLevels: [...preset.attnLevels] };
    imageShape = [a.channels, a.imageSize, a.imageSize];
  }
  const model = createUNet(modelConfig);
  const { source } = loadModelWeights(a.checkpoint, model, { prefer: a.weights });
  model.eval();
  const schedule = new NoiseSchedule({ numTimesteps: timesteps, schedule: betaSchedule });
  const sampler = makeSampler(a.sampler, schedule, a.steps, a.eta);
  const out = a.out ?? path.join(path.dirname(a.checkpoint), 'sampled');
  const [c, h, w] = imageShape;
  log(`sampling ${a.n} images ${c}x${h}x${w} with ${sampler.name} (${sampler.timesteps.length} steps${a.sampler === 'ddim' ? `, eta ${a.eta}` : ''}) from the ${source} weights of ${a.checkpoint}`);

  const threads = a.workers === 'auto' ? autoWorkers(backend.name, Math.min(a.batchSize, a.n)) : a.workers;
  // the workers run the same backend
  const parallel = threads > 1 ? new DataParallel(threads, backend.name, model, schedule) : null;
  if (parallel) log(`  on ${threads} threads (each takes part of every batch)`);

  const started = Date.now();
  const generator = new Generator(a.seed);
  const parts = [];
  let firstRun = null;
  try {
    const predict = noisePredictor(model, parallel);
    for (let done = 0; done < a.n; done += a.batchSize) {
      const size = Math.min(a.batchSize, a.n - done);
      const run = sampleWithSnapshots(predict, sampler, [size, c, h, w], generator);
      if (!firstRun) firstRun = { run, size };
      parts.push(run.samples);
      log(`  ${done + size}/${a.n} images (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  } finally {
    await parallel?.close();
  }
  const images = (parts.length === 1 ? parts[0] : concat(parts, 0)).toArray();
  writeGridPng(path.join(out, 'grid.png'), images, a.n, c, h, w, { nrow: Math.ceil(Math.sqrt(a.n)) });
  writeSingleImages(path.join(out, 'images'), images, a.n, c, h, w);
  writeReverseProcessPng(path.join(out, 'reverse_process.png'), firstRun!.run, [firstRun!.size, c, h, w]);
  log(`wrote ${path.join(out, 'grid.png')}, ${a.n} PNGs in ${path.join(out, 'images')}, and ${path.join(out, 'reverse_process.png')}`);
}

export interface NoiseArgs {
  dataset: string;
  index: number;
  columns: number;
  timesteps: number;
  betaSchedule: BetaSchedule;
  seed: number;
  out: string;
}

export function noiseCommand(a: NoiseArgs, log: (s: string) => void): void {
  const ds = loadDataset(a.dataset, { split: 'all' });
  if (!(Number.isInteger(a.index) && a.index >= 0 && a.index < ds.n)) throw new Error(`noise: --index must be an integer in [0, ${ds.n}), got ${a.index}`);
  if (!(Number.isInteger(a.columns) && a.columns >= 2)) throw new Error(`noise: --columns must be an integer >= 2, got ${a.columns}`);
  const schedule = new NoiseSchedule({ numTimesteps: a.timesteps, schedule: a.betaSchedule });
  const image = getImage(ds, a.index).map((v) => v * 2 - 1); // [0, 1] -> [-1, 1]
  const ts = writeNoiseStripPng(a.out, schedule, image, ds.channels, ds.height, ds.width, a.columns, a.seed);
  log(`wrote ${a.out}: image ${a.index} of ${ds.name} at t = ${ts.join(', ')}`);
}
