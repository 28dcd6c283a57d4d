/**
 * Training the autoencoder (`tiny-ddpm train-ae`): Adam on the negative ELBO (model.ts), with
 * what `train` gives a diffusion run: a seeded loader, atomic checkpoints that resume exactly,
 * a loss log and plot, Ctrl-C that saves, a NaN guard that keeps the last good checkpoint.
 * At the end it writes the pictures of an autoencoder: held-out digits above their
 * reconstructions, a walk through the latent space between two digits, and samples of the
 * prior (z ~ N(0, I) decoded: the VAE as a generator).
 */
import * as fs from 'fs';
import * as path from 'path';
import { noGrad } from '../autograd';
import { checkpointKind, loadTrainingCheckpoint, readTrainingCheckpointInfo } from '../checkpoint/training';
import { tensor, randn } from '../creation';
import { loadDataset } from '../data';
import { toSignedPixels, type ImageDataset } from '../data/dataset';
import { DataLoader } from '../data/loader';
import { writeGridPng } from '../image/png';
import { plotLossCurve } from '../image/plot';
import { concat } from '../ops';
import { Adam } from '../optim/adam';
import { Generator } from '../random';
import { ProgressBar } from '../train/progress';
import { openRunFiles, resumeRun, runLoop, saveRun, type RunState } from '../train/loop';
import { Autoencoder, DEFAULT_AUTOENCODER_CONFIG, vaeLoss, type AutoencoderConfig } from './model';

/** What marks an autoencoder's training checkpoint (its config.kind). */
export const AUTOENCODER_KIND = 'autoencoder';

export interface TrainAutoencoderConfig {
  dataset: string | ImageDataset;
  limit: number;
  steps: number;
  batchSize: number;
  lr: number;
  /** weight of the KL term (1 = the ELBO of a decoder of variance 1/2) */
  beta: number;
  latentChannels: number;
  channels: [number, number];
  gradClip: number;
  seed: number;
  outDir: string;
  checkpointEvery: number;
  logEvery: number;
  resume: boolean | string;
}

export const DEFAULT_TRAIN_AE_CONFIG: TrainAutoencoderConfig = {
  dataset: 'mnist', limit: 0, steps: 1000, batchSize: 64, lr: 1e-3, beta: 1, latentChannels: 4, channels: [32, 64],
  gradClip: 1, seed: 0, outDir: 'runs/ae', checkpointEvery: 250, logEvery: 25, resume: false,
};

export interface TrainAutoencoderResult {
  step: number;
  stopped: 'done' | 'interrupted' | 'nonfinite';
  seconds: number;
  checkpoint: string;
  /** per-pixel mean squared error of the held-out images through the mean latent (images in [-1, 1]) */
  heldOutMse: number | null;
}

export function validateTrainAeConfig(cfg: TrainAutoencoderConfig): void {
  const posInt = (name: keyof TrainAutoencoderConfig, flag: string, min = 1) => {
    const v = cfg[name] as number;
    if (!(Number.isInteger(v) && v >= min)) throw new Error(`train-ae: --${flag} must be an integer >= ${min}, got ${v}`);
  };
  posInt('steps', 'steps');
  posInt('batchSize', 'batch-size');
  posInt('latentChannels', 'latent-channels');
  posInt('checkpointEvery', 'checkpoint-every');
  posInt('logEvery', 'log-every');
  posInt('limit', 'limit', 0);
  if (!(cfg.lr > 0 && cfg.lr < 1)) throw new Error(`train-ae: --lr must be in (0, 1), got ${cfg.lr}`);
  if (!(Number.isFinite(cfg.beta) && cfg.beta >= 0)) throw new Error(`train-ae: --beta must be a finite number >= 0, got ${cfg.beta}`);
  if (!(cfg.gradClip >= 0)) throw new Error(`train-ae: --grad-clip must be >= 0, got ${cfg.gradClip}`);
  if (!Number.isInteger(cfg.seed)) throw new Error(`train-ae: --seed must be an integer, got ${cfg.seed}`);
}

/** Whether a file is an autoencoder's training checkpoint. */
export function isAutoencoderCheckpoint(file: string): boolean {
  return checkpointKind(file) === AUTOENCODER_KIND;
}

/** The autoencoder of a checkpoint `train-ae` wrote, with its trained weights, in eval mode. */
export function loadAutoencoder(file: string, what = 'autoencoder'): { model: Autoencoder; config: AutoencoderConfig; dataset: string } {
  if (!fs.existsSync(file)) throw new Error(`${what}: no file '${file}'`);
  let info;
  try {
    info = readTrainingCheckpointInfo(file);
  } catch (err) {
    throw new Error(`${what}: '${file}' is not a training checkpoint (${(err as Error).message})`);
  }
  const cfg = info.config as { kind?: string; modelConfig?: AutoencoderConfig; dataset?: string };
  if (cfg?.kind !== AUTOENCODER_KIND || !cfg.modelConfig) throw new Error(`${what}: '${file}' is not an autoencoder checkpoint (it was not written by tiny-ddpm train-ae)`);
  const model = new Autoencoder(cfg.modelConfig);
  loadTrainingCheckpoint(file, { model });
  model.eval();
  return { model, config: cfg.modelConfig, dataset: cfg.dataset ?? 'mnist' };
}

/** Per-pixel MSE of images [N, C, H, W] in [-1, 1] through the mean latent, in batches. */
export function reconstructionMse(model: Autoencoder, ds: ImageDataset, n = ds.n, batch = 100): number {
  const per = ds.channels * ds.height * ds.width;
  let sum = 0;
  noGrad(() => {
    for (let start = 0; start < n; start += batch) {
      const b = Math.min(batch, n - start);
      const x = tensor(toSignedPixels(ds.images.subarray(start * per, (start + b) * per)), [b, ds.channels, ds.height, ds.width]);
      sum += model.forward(x).sub(x).square().sum().item();
    }
  });
  return sum / (n * per);
}

/** The three pictures of an autoencoder, written into dir. */
export function writeAutoencoderPictures(dir: string, model: Autoencoder, heldOut: ImageDataset, seed: number): string[] {
  const { channels: c, height: h, width: w } = heldOut;
  const per = c * h * w;
  const files: string[] = [];
  noGrad(() => {
    // 1. eight held-out digits (the first of each of 8 classes) above their reconstructions
    const picks: number[] = [];
    for (let k = 0; k < heldOut.numClasses && picks.length < 8; k++) {
      const i = heldOut.labels.findIndex((y) => y === k);
      if (i >= 0) picks.push(i);
    }
    const originals = new Float32Array(picks.length * per);
    picks.forEach((i, k) => originals.set(toSignedPixels(heldOut.images.subarray(i * per, (i + 1) * per)), k * per));
    const rec = model.forward(tensor(originals, [picks.length, c, h, w])).clamp(-1, 1).toArray();
    const both = new Float32Array(2 * picks.length * per);
    both.set(originals, 0);
    both.set(rec, picks.length * per);
    files.push(path.join(dir, 'reconstructions.png'));
    writeGridPng(files[files.length - 1], both, 2 * picks.length, c, h, w, { nrow: picks.length });
    // 2. the latent path between the first two of those digits, decoded at 10 points
    const means = model.encode(tensor(originals.subarray(0, 2 * per), [2, c, h, w])).mean;
    const [za, zb] = [means.slice(0, 0, 1), means.slice(0, 1, 2)];
    const path10 = Array.from({ length: 10 }, (_, k) => za.mul(1 - k / 9).add(zb.mul(k / 9)));
    const strip = model.decode(concat(path10, 0)).clamp(-1, 1).toArray();
    files.push(path.join(dir, 'interpolation.png'));
    writeGridPng(files[files.length - 1], strip, 10, c, h, w, { nrow: 10 });
    // 3. the prior's samples: z ~ N(0, I), decoded
    const [zc, zs] = model.latentShape;
    const prior = model.decode(randn([64, zc, zs, zs], { generator: new Generator(seed) })).clamp(-1, 1).toArray();
    files.push(path.join(dir, 'prior_samples.png'));
    writeGridPng(files[files.length - 1], prior, 64, c, h, w, { nrow: 8 });
  });
  return files;
}

export async function trainAutoencoder(config: Partial<TrainAutoencoderConfig>, hooks: { stream?: NodeJS.WriteStream; shouldStop?: () => boolean } = {}): Promise<TrainAutoencoderResult> {
  const cfg: TrainAutoencoderConfig = { ...DEFAULT_TRAIN_AE_CONFIG, ...config };
  validateTrainAeConfig(cfg);
  const started = Date.now();
  const out = cfg.outDir;
  const checkpointFile = path.join(out, 'checkpoint.safetensors');
  const lossFile = path.join(out, 'loss.csv');
  const dataset = typeof cfg.dataset === 'string' ? loadDataset(cfg.dataset, { split: 'train', limit: cfg.limit || undefined }) : cfg.dataset;
  const heldOut = typeof cfg.dataset === 'string' ? loadDataset(cfg.dataset, { split: 'test' }) : null;
  if (cfg.batchSize > dataset.n) throw new Error(`train-ae: batch size ${cfg.batchSize} is larger than the dataset (${dataset.n} images)`);
  if (dataset.width !== dataset.height) throw new Error(`train-ae: images must be square, got ${dataset.height}x${dataset.width}`);
  const modelConfig: AutoencoderConfig = { ...DEFAULT_AUTOENCODER_CONFIG, inChannels: dataset.channels, imageSize: dataset.height, channels: cfg.channels, latentChannels: cfg.latentChannels };
  const model = new Autoencoder(modelConfig, { generator: new Generator(cfg.seed) });
  const optimizer = new Adam(model.namedParameters(), { lr: cfg.lr });
  const loader = new DataLoader(dataset, { batchSize: cfg.batchSize, seed: cfg.seed });
  const generator = new Generator(cfg.seed + 1); // the eps of the reparameterization
  const savedConfig = { kind: AUTOENCODER_KIND, ...cfg, dataset: typeof cfg.dataset === 'string' ? cfg.dataset : cfg.dataset.name, resume: false, modelConfig: model.config };

  const state: RunState = { name: 'train-ae', kind: AUTOENCODER_KIND, noun: 'an autoencoder', model, optimizer, generator, rngKey: 'reparameterization', loader };
  const resumeFrom = cfg.resume === true ? checkpointFile : cfg.resume || null;
  const resumed = resumeFrom ? resumeRun(resumeFrom, state) : { step: 0, elapsedBefore: 0 };
  let step = resumed.step;
  const history = openRunFiles(out, savedConfig, lossFile, 'step,loss,reconstruction,kl,elapsed_s', step);
  const elapsed = () => resumed.elapsedBefore + (Date.now() - started) / 1000;
  const save = () => saveRun(checkpointFile, step, state, savedConfig, elapsed());

  const progress = new ProgressBar({ total: cfg.steps, batchSize: cfg.batchSize, stream: hooks.stream, logEvery: cfg.logEvery, startStep: step });
  const [zc, zs] = model.latentShape;
  progress.log(`training an autoencoder (${model.numParameters().toLocaleString('en-US')} parameters; latent ${zc}x${zs}x${zs} for ${dataset.channels}x${dataset.height}x${dataset.width}) on ${dataset.name} (${dataset.n} images), steps ${step}..${cfg.steps}, batch ${cfg.batchSize}, lr ${cfg.lr}, beta ${cfg.beta}`);
  const { step: last, stopped } = await runLoop({
    name: 'train-ae', from: step, steps: cfg.steps, checkpointEvery: cfg.checkpointEvery, checkpointFile, progress,
    parameters: model.parameters(), optimizer, gradClip: cfg.gradClip, shouldStop: hooks.shouldStop,
    lossOf: () => {
      const batch = loader.next();
      const r = vaeLoss(model, tensor(batch.images, batch.shape), cfg.beta, generator);
      return { loss: r.loss, parts: [r.reconstruction, r.kl] };
    },
    record: (s, loss, [reconstruction, kl]) => {
      step = s;
      history.push([s, loss, reconstruction, kl]);
      fs.appendFileSync(lossFile, `${s},${loss},${reconstruction},${kl},${elapsed().toFixed(2)}\n`);
    },
    save: (s) => {
      step = s;
      save();
    },
  });
  step = last;
  if (history.length > 1) {
    plotLossCurve(path.join(out, 'loss.png'), [
      { name: 'reconstruction', xs: history.map((r) => r[0]), ys: history.map((r) => r[2]) },
      { name: 'kl', xs: history.map((r) => r[0]), ys: history.map((r) => r[3]) },
    ], { title: 'AUTOENCODER LOSS', xLabel: 'step', yLabel: 'per image', logY: true });
  }
  model.eval();
  const pictures = stopped === 'nonfinite' ? [] : writeAutoencoderPictures(out, model, heldOut ?? dataset, cfg.seed + 2);
  const heldOutMse = heldOut && stopped !== 'nonfinite' ? reconstructionMse(model, heldOut) : null;
  if (heldOutMse !== null) progress.log(`held-out reconstruction: per-pixel MSE ${heldOutMse.toFixed(5)} on ${heldOut!.n} images (${heldOut!.name}), images in [-1, 1]`);
  if (pictures.length) progress.log(`pictures: ${pictures.join(', ')}`);
  return { step, stopped, seconds: (Date.now() - started) / 1000, checkpoint: checkpointFile, heldOutMse };
}
