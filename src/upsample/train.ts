/**
 * Training the small-to-large decoder (`tiny-ddpm train-upsampler`): Adam on upsamplerLoss
 * (model.ts) over the training digits, each batch's small inputs their own 2x2 area averages,
 * with what `train` and `train-ae` give a run: a seeded loader, warmup and cosine decay of the
 * learning rate, atomic checkpoints that resume exactly, a loss log and plot, Ctrl-C that
 * saves, a NaN guard that keeps the last good checkpoint (the loop is train/loop.ts). At the
 * end it writes upsampled.png (held-out digits: the small input, its enlargement, the real
 * one) and reports the held-out per-pixel error next to that of copying each pixel into a 2x2
 * block, the baseline the UNet must beat.
 */
import * as fs from 'fs';
import * as path from 'path';
import { noGrad } from '../autograd';
import { loadTrainingCheckpoint, readTrainingCheckpointInfo } from '../checkpoint/training';
import { tensor } from '../creation';
import { loadDataset } from '../data';
import { DatasetError, downsampleImages, toSignedPixels, type ImageDataset } from '../data/dataset';
import { DataLoader } from '../data/loader';
import { writeGridPng } from '../image/png';
import { plotLossCurve } from '../image/plot';
import { UNET_PRESETS, type UNetConfig } from '../nn/unet';
import { upsampleNearest2d } from '../ops';
import { Adam } from '../optim/adam';
import { lrSchedule } from '../optim/schedule';
import { Generator } from '../random';
import { openRunFiles, resumeRun, runLoop, saveRun, type RunState } from '../train/loop';
import { ProgressBar } from '../train/progress';
import { Upsampler, upsamplerLoss, validateUpsamplerConfig, type UpsamplerConfig } from './model';

/** What marks an upsampler's training checkpoint (its config.kind). */
export const UPSAMPLER_KIND = 'upsampler';

export interface TrainUpsamplerConfig {
  dataset: string | ImageDataset;
  limit: number;
  /** the UNet that adds the detail (at the large size): a preset name or a full config (its inChannels are set from the data) */
  model: string | UNetConfig;
  steps: number;
  batchSize: number;
  /** peak learning rate (Adam), after `warmup` steps, decaying to 0 by the last step along a cosine */
  lr: number;
  warmup: number;
  /** standard deviation of the Gaussian noise added to the small inputs during training (0 = none) */
  noiseAug: number;
  gradClip: number;
  seed: number;
  outDir: string;
  checkpointEvery: number;
  logEvery: number;
  resume: boolean | string;
}

export const DEFAULT_TRAIN_UPSAMPLER_CONFIG: TrainUpsamplerConfig = {
  dataset: 'mnist', limit: 0, model: 'unet-mini', steps: 600, batchSize: 32, lr: 1e-3, warmup: 50, noiseAug: 0.05,
  gradClip: 1, seed: 0, outDir: 'runs/upsampler', checkpointEvery: 250, logEvery: 25, resume: false,
};

export interface TrainUpsamplerResult {
  step: number;
  stopped: 'done' | 'interrupted' | 'nonfinite';
  seconds: number;
  checkpoint: string;
  /** per-pixel mean squared error on the held-out digits (images in [-1, 1]): the model's, and copying's */
  heldOut: { mse: number; copyMse: number; n: number } | null;
}

export function validateTrainUpsamplerConfig(cfg: TrainUpsamplerConfig): void {
  const posInt = (name: keyof TrainUpsamplerConfig, flag: string, min = 1) => {
    const v = cfg[name] as number;
    if (!(Number.isInteger(v) && v >= min)) throw new Error(`train-upsampler: --${flag} must be an integer >= ${min}, got ${v}`);
  };
  posInt('steps', 'steps');
  posInt('batchSize', 'batch-size');
  posInt('warmup', 'warmup', 0);
  posInt('checkpointEvery', 'checkpoint-every');
  posInt('logEvery', 'log-every');
  posInt('limit', 'limit', 0);
  if (typeof cfg.model === 'string' && !UNET_PRESETS[cfg.model]) throw new Error(`train-upsampler: unknown --model '${cfg.model}'; valid presets: ${Object.keys(UNET_PRESETS).join(', ')}`);
  if (!(cfg.lr > 0 && cfg.lr < 1)) throw new Error(`train-upsampler: --lr must be in (0, 1), got ${cfg.lr}`);
  if (!(Number.isFinite(cfg.noiseAug) && cfg.noiseAug >= 0)) throw new Error(`train-upsampler: --noise-aug must be a finite number >= 0, got ${cfg.noiseAug}`);
  if (!(cfg.gradClip >= 0)) throw new Error(`train-upsampler: --grad-clip must be >= 0, got ${cfg.gradClip}`);
  if (!Number.isInteger(cfg.seed)) throw new Error(`train-upsampler: --seed must be an integer, got ${cfg.seed}`);
}

/** The upsampler of a checkpoint `train-upsampler` wrote, with its trained weights, in eval mode. */
export function loadUpsampler(file: string, what = 'upsampler'): { model: Upsampler; config: UpsamplerConfig } {
  if (!fs.existsSync(file)) throw new Error(`${what}: no file '${file}'`);
  let info;
  try {
    info = readTrainingCheckpointInfo(file);
  } catch (err) {
    throw new Error(`${what}: '${file}' is not a training checkpoint (${(err as Error).message})`);
  }
  const cfg = info.config as { kind?: string; modelConfig?: UpsamplerConfig };
  if (cfg?.kind !== UPSAMPLER_KIND || !cfg.modelConfig) {
    throw new Error(`${what}: '${file}' is not an upsampler checkpoint (it was not written by tiny-ddpm train-upsampler${cfg?.kind === 'autoencoder' ? '; it is an autoencoder' : ''})`);
  }
  const model = new Upsampler(cfg.modelConfig);
  loadTrainingCheckpoint(file, { model });
  model.eval();
  return { model, config: cfg.modelConfig };
}

/** Enlarge n small images [n, C, s, s] in [-1, 1] to [n, C, 2s, 2s], clamped to [-1, 1], in batches. */
export function upsampleImages(model: Upsampler, small: Float32Array, n: number, batch = 100): Float32Array {
  const c = model.channels;
  const s = model.config.smallSize;
  const S = model.largeSize;
  if (small.length !== n * c * s * s) throw new Error(`upsampleImages: ${small.length} values are not ${n} images ${c}x${s}x${s}`);
  const out = new Float32Array(n * c * S * S);
  noGrad(() => {
    for (let start = 0; start < n; start += batch) {
      const b = Math.min(batch, n - start);
      const x = tensor(small.subarray(start * c * s * s, (start + b) * c * s * s), [b, c, s, s]);
      out.set(model.forward(x).clamp(-1, 1).toArray(), start * c * S * S);
    }
  });
  return out;
}

/** n images [n, C, H, W] of pixels in [0, 1]: in [-1, 1], and their 2x2 area averages. */
function pairs(pixels: Float32Array, n: number, ds: Pick<ImageDataset, 'channels' | 'height' | 'width'>): { large: Float32Array; small: Float32Array } {
  const large = toSignedPixels(pixels);
  return { large, small: downsampleImages(large, n, ds.channels, ds.height, ds.width, 2) };
}

/** Per-pixel MSE on images of ds through the model, and through copying each small pixel into a 2x2 block. */
export function upsamplerHeldOutMse(model: Upsampler, ds: ImageDataset): { mse: number; copyMse: number; n: number } {
  const { large, small } = pairs(ds.images, ds.n, ds);
  const c = ds.channels;
  const s = model.config.smallSize;
  const ours = upsampleImages(model, small, ds.n);
  const copied = noGrad(() => upsampleNearest2d(tensor(small, [ds.n, c, s, s]), 2).toArray());
  let a = 0;
  let b = 0;
  for (let i = 0; i < large.length; i++) {
    a += (ours[i] - large[i]) ** 2;
    b += (copied[i] - large[i]) ** 2;
  }
  return { mse: a / large.length, copyMse: b / large.length, n: ds.n };
}

/** upsampled.png: eight held-out digits (the first of each of 8 classes): small (copied up), enlarged, real. */
export function writeUpsamplerPicture(file: string, model: Upsampler, ds: ImageDataset): void {
  const picks: number[] = [];
  for (let k = 0; k < ds.numClasses && picks.length < 8; k++) {
    const i = ds.labels.findIndex((y) => y === k);
    if (i >= 0) picks.push(i);
  }
  const c = ds.channels;
  const S = ds.height;
  const s = S / 2;
  const per = c * S * S;
  const picked = new Float32Array(picks.length * per);
  picks.forEach((i, k) => picked.set(ds.images.subarray(i * per, (i + 1) * per), k * per));
  const { large, small } = pairs(picked, picks.length, ds);
  const copied = noGrad(() => upsampleNearest2d(tensor(small, [picks.length, c, s, s]), 2).toArray());
  const rows = new Float32Array(3 * picks.length * per);
  rows.set(copied, 0);
  rows.set(upsampleImages(model, small, picks.length), picks.length * per);
  rows.set(large, 2 * picks.length * per);
  writeGridPng(file, rows, 3 * picks.length, c, S, S, { nrow: picks.length });
}

export async function trainUpsampler(config: Partial<TrainUpsamplerConfig>, hooks: { stream?: NodeJS.WriteStream; shouldStop?: () => boolean } = {}): Promise<TrainUpsamplerResult> {
  const cfg: TrainUpsamplerConfig = { ...DEFAULT_TRAIN_UPSAMPLER_CONFIG, ...config };
  validateTrainUpsamplerConfig(cfg);
  const started = Date.now();
  const out = cfg.outDir;
  const checkpointFile = path.join(out, 'checkpoint.safetensors');
  const lossFile = path.join(out, 'loss.csv');
  const dataset = typeof cfg.dataset === 'string' ? loadDataset(cfg.dataset, { split: 'train', limit: cfg.limit || undefined }) : cfg.dataset;
  const heldOut = typeof cfg.dataset === 'string' ? loadDataset(cfg.dataset, { split: 'test' }) : null;
  if (cfg.batchSize > dataset.n) throw new Error(`train-upsampler: batch size ${cfg.batchSize} is larger than the dataset (${dataset.n} images)`);
  if (dataset.width !== dataset.height || dataset.height % 2 !== 0) {
    throw new DatasetError(`train-upsampler: ${dataset.name} has ${dataset.height}x${dataset.width} images; the upsampler enlarges square images by 2, so their size must be even`);
  }
  const preset = typeof cfg.model === 'string' ? UNET_PRESETS[cfg.model] : cfg.model;
  const modelName = typeof cfg.model === 'string' ? cfg.model : 'custom UNet';
  const modelConfig: UpsamplerConfig = { smallSize: dataset.height / 2, unet: { ...preset, channelMults: [...preset.channelMults], attnLevels: [...preset.attnLevels], inChannels: dataset.channels } };
  try {
    validateUpsamplerConfig(modelConfig);
  } catch (err) {
    throw new Error(`train-upsampler: --model ${modelName} does not fit ${dataset.height}x${dataset.width} images: ${(err as Error).message.replace(/^Upsampler config: /, '')}`);
  }
  const model = new Upsampler(modelConfig, { generator: new Generator(cfg.seed) });
  const optimizer = new Adam(model.namedParameters(), { lr: cfg.lr });
  const loader = new DataLoader(dataset, { batchSize: cfg.batchSize, seed: cfg.seed, scaleToMinusOneOne: true });
  const generator = new Generator(cfg.seed + 1); // the noise added to the small inputs
  const lrAt = lrSchedule({ lr: cfg.lr, warmupSteps: cfg.warmup, decay: 'cosine', totalSteps: Math.max(cfg.steps, cfg.warmup + 1) });
  const savedConfig = { kind: UPSAMPLER_KIND, ...cfg, dataset: typeof cfg.dataset === 'string' ? cfg.dataset : cfg.dataset.name, resume: false, modelConfig: model.config };

  const state: RunState = { name: 'train-upsampler', kind: UPSAMPLER_KIND, noun: 'an upsampler', model, optimizer, generator, rngKey: 'noiseAug', loader };
  const resumeFrom = cfg.resume === true ? checkpointFile : cfg.resume || null;
  const resumed = resumeFrom ? resumeRun(resumeFrom, state) : { step: 0, elapsedBefore: 0 };
  let step = resumed.step;
  const history = openRunFiles(out, savedConfig, lossFile, 'step,mse,lr,elapsed_s', step);
  const elapsed = () => resumed.elapsedBefore + (Date.now() - started) / 1000;
  const save = (at: number) => saveRun(checkpointFile, at, state, savedConfig, elapsed());

  const progress = new ProgressBar({ total: cfg.steps, batchSize: cfg.batchSize, stream: hooks.stream, logEvery: cfg.logEvery, startStep: step });
  const s = modelConfig.smallSize;
  progress.log(`training an upsampler (${modelName}, ${model.numParameters().toLocaleString('en-US')} parameters; ${dataset.channels}x${s}x${s} -> ${dataset.channels}x${2 * s}x${2 * s}) on ${dataset.name} (${dataset.n} images), steps ${step}..${cfg.steps}, batch ${cfg.batchSize}, lr ${cfg.lr} decaying to 0 (cosine) after ${cfg.warmup} warmup steps, input noise ${cfg.noiseAug}`);
  const result = await runLoop({
    name: 'train-upsampler', from: step, steps: cfg.steps, checkpointEvery: cfg.checkpointEvery, checkpointFile, progress,
    parameters: model.parameters(), optimizer, lrAt, gradClip: cfg.gradClip, shouldStop: hooks.shouldStop,
    lossOf: () => {
      const batch = loader.next();
      const r = upsamplerLoss(model, tensor(batch.images, batch.shape), cfg.noiseAug, generator);
      return { loss: r.loss, parts: [] };
    },
    record: (at, mse) => {
      history.push([at, mse]);
      fs.appendFileSync(lossFile, `${at},${mse},${optimizer.lr},${elapsed().toFixed(2)}\n`);
    },
    save,
  });
  step = result.step;
  if (history.length > 1) {
    plotLossCurve(path.join(out, 'loss.png'), [{ name: 'mse', xs: history.map((r) => r[0]), ys: history.map((r) => r[1]) }], { title: 'UPSAMPLER LOSS', xLabel: 'step', yLabel: 'mse per pixel', logY: true });
  }
  model.eval();
  let heldOutResult: TrainUpsamplerResult['heldOut'] = null;
  if (result.stopped !== 'nonfinite') {
    const shown = heldOut ?? dataset;
    writeUpsamplerPicture(path.join(out, 'upsampled.png'), model, shown);
    progress.log(`picture: ${path.join(out, 'upsampled.png')} (rows: the ${s}x${s} input copied up, the upsampler's ${2 * s}x${2 * s}, the real digit)`);
    if (heldOut) {
      heldOutResult = upsamplerHeldOutMse(model, heldOut);
      progress.log(`held-out: per-pixel MSE ${heldOutResult.mse.toFixed(5)} against ${heldOutResult.copyMse.toFixed(5)} for copying each pixel into a 2x2 block, on ${heldOut.n} images (${heldOut.name}), images in [-1, 1]`);
    }
  }
  return { step, stopped: result.stopped, seconds: (Date.now() - started) / 1000, checkpoint: checkpointFile, heldOut: heldOutResult };
}
