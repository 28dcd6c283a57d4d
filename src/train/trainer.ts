/**
 * Training a DDPM: Algorithm 1 of Ho et al. 2020 in a loop, with everything a real run needs
 * around it: a seeded data loader, Adam with warmup, gradient clipping, an EMA of the
 * weights (what sampling uses), atomic checkpoints that resume exactly, a loss log (CSV and a
 * plot), sample grids along the way, Ctrl-C that saves before exiting, and a NaN guard that
 * stops the run and keeps the last good checkpoint.
 *
 * The loop itself is the five lines of Algorithm 1:
 *   x0 ~ data;  t ~ Uniform{0..T-1};  eps ~ N(0, I)
 *   loss = || eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t) ||^2
 *   take a gradient step on loss
 * with three changes that buy quality at a short run's budget, each a switch in TrainConfig:
 * the network predicts v instead of eps and the loss weights timesteps by min-SNR-5
 * (diffusion/objective.ts), the learning rate decays to 0 by the last step, and the network
 * is told the digit's class (dropped to the null class for 10% of the images, so classifier-
 * free guidance can mix both predictions when sampling). `--condition none --prediction eps
 * --loss-weighting none --lr-decay constant` is Ho et al.'s unconditional DDPM.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Backend } from '../backend/backend';
import { getBackend, setBackend } from '../backend/registry';
import { isSamplingExport, loadTrainingCheckpoint, readTrainingCheckpointInfo, saveTrainingCheckpoint, trainingCheckpointInfo } from '../checkpoint/training';
import { readSafetensors } from '../checkpoint/safetensors';
import { loadDataset } from '../data';
import { DataLoader } from '../data/loader';
import { downsampleDataset, type ImageDataset } from '../data/dataset';
import { LOSS_WEIGHTINGS, PREDICTIONS, type LossWeighting, type Objective, type Prediction } from '../diffusion/objective';
import { balancedLabels, CONDITION_KINDS, TEXT_ENCODER_STARTS, TextConditioner, type ConditionKind, type TextEncoderStart } from './condition';
import { loadClip, shippedClipPath } from '../clip/train';
import type { TextEncoderConfig } from '../nn/text-encoder';
import { DataParallel } from './parallel';
import { optimizationStep, type StepParts } from './step';
import { TIMESTEP_SAMPLINGS, TimestepSampler, type TimestepSamplingKind } from '../diffusion/timesteps';
import type { Sampler } from '../diffusion/samplers';
import { NoiseSchedule, type BetaSchedule } from '../diffusion/schedule';
import { writeGridPng } from '../image/png';
import { plotLossCurve } from '../image/plot';
import { createUNet, UNET_PRESETS, type UNet, type UNetConfig } from '../nn/unet';
import { openLatentSpace, type LatentInfo, type LatentSpace } from '../vae/latent';
import { Adam } from '../optim/adam';
import { EMA } from '../optim/ema';
import { lrSchedule } from '../optim/schedule';
import { Generator } from '../random';
import { noGrad } from '../autograd';
import { sampleWithSnapshots, writeReverseProcessPng } from './pictures';
import { ProgressBar } from './progress';
import { TrainingEvaluator } from '../metrics/training-eval';

/** Everything a learner may change about a run, in one place. */
export interface TrainConfig {
  /** dataset spec (see loadDataset: 'mnist', 'fashion-mnist', 'cifar10:<dir>', ...) or a dataset */
  dataset: string | ImageDataset;
  /** use only the first N training images (0 = all) */
  limit: number;
  /** UNet preset name or a full config (with `latent`, the pixel presets of LATENT_STAND_INS mean unet-latent) */
  model: string | UNetConfig;
  /**
   * '' = diffusion on the pixels; else an autoencoder checkpoint (tiny-ddpm train-ae): the
   * images are encoded once, scaled to unit variance, and the UNet denoises latents (src/vae/latent.ts)
   */
  latent: string;
  /**
   * 0 = the images at their own size; else train on them area-averaged to imageSize x imageSize
   * (e.g. 14 for MNIST: the first stage of the two-stage generator, enlarged by train-upsampler)
   */
  imageSize: number;
  /** optimizer steps in total (a resumed run continues up to this number) */
  steps: number;
  batchSize: number;
  /** peak learning rate of Adam (Ho et al. 2020 use 2e-4) */
  lr: number;
  /** linear learning-rate warmup steps */
  warmup: number;
  /** after the warmup: keep lr constant (Ho et al.) or decay it to 0 by the last step along a cosine */
  lrDecay: 'constant' | 'cosine';
  /** what the network predicts: 'eps' (Ho et al. 2020), 'v' (Salimans & Ho 2022) or 'x0' */
  prediction: Prediction;
  /** how the loss weights timesteps: 'none' or 'min-snr' (Hang et al. 2023), with snrGamma */
  lossWeighting: LossWeighting;
  snrGamma: number;
  /**
   * where training draws t from (diffusion/timesteps.ts): 'uniform' (Ho et al. 2020) or
   * 'log-snr-normal', ln SNR(t) ~ N(tLogSnrMean, tLogSnrStd^2) (EDM's and SD3's choices on one scale)
   */
  timestepSampling: TimestepSamplingKind;
  tLogSnrMean: number;
  tLogSnrStd: number;
  /**
   * 'none' (unconditional), 'class' (a class embedding in the UNet) or 'text' (captions made
   * from the labels, read by a text encoder trained with the UNet through cross-attention)
   */
  condition: ConditionKind;
  /**
   * text-conditional runs: where the text encoder starts. 'clip': the text tower of a trained
   * CLIP-style model (src/clip/), kept frozen, as Stable Diffusion keeps its CLIP text encoder;
   * 'clip-tuned': the same start, trained on with the UNet; 'scratch': random, trained with the UNet
   */
  textEncoder: TextEncoderStart;
  /** text-conditional runs from a CLIP text tower: the CLIP model file ('' = the shipped assets/<dataset>-clip.safetensors) */
  clipModel: string;
  /** text-conditional runs: the text encoder's width, blocks and heads (from scratch; a CLIP tower brings its own) */
  textDim: number;
  textLayers: number;
  textHeads: number;
  /** conditional runs: the share of training images whose condition is replaced by the null one */
  condDropout: number;
  /** conditional runs: the guidance scale w of the sample grids and evaluations */
  guidance: number;
  /** EMA decay of the weights used for sampling */
  emaDecay: number;
  /** clip the gradient's global norm to this (0 = off; Ho et al. clip to 1) */
  gradClip: number;
  seed: number;
  /** diffusion schedule */
  timesteps: number;
  betaSchedule: BetaSchedule;
  /** where checkpoint, logs and pictures go */
  outDir: string;
  /** save a checkpoint every N steps (and at the end) */
  checkpointEvery: number;
  /** every N steps also keep a copy of the checkpoint as checkpoints/step_NNNNNN.safetensors, to evaluate later (0 = off) */
  keepEvery: number;
  /** write a sample grid every N steps (and at the end; 0 = only at the end) */
  sampleEvery: number;
  /** images in each sample grid */
  numSamples: number;
  /** how in-training samples are drawn: 'ddim' or 'dpm-solver++' with sampleSteps steps, or 'ddpm' (all T steps) */
  sampler: SamplerKind;
  sampleSteps: number;
  /** print a progress line every N steps when not on a terminal */
  logEvery: number;
  /** continue from outDir/checkpoint.safetensors (true) or from this file */
  resume: boolean | string;
  /** threads that share each batch (data parallelism over worker threads; 1 = this thread only) */
  workers: number;
  /**
   * images per forward/backward pass: each thread runs its part of the batch in passes of at
   * most this many and accumulates the gradients (the same step up to float32 rounding; small
   * passes keep the activations in the CPU's caches)
   */
  microBatch: number;
  /** score evalSamples DDIM samples every N steps (and at the end): FID, recognized share, coverage, in eval.csv (0 = off) */
  evalEvery: number;
  /** samples per evaluation and real images on each side; FID's bias grows as it falls, so keep it well above the 64 feature dims */
  evalSamples: number;
  /** classifier weights for evalEvery ('' = the shipped assets/<dataset>-classifier.safetensors) */
  evalClassifier: string;
}

/**
 * The pixel presets that, with `latent`, mean unet-latent: the default (unet-mini) and the
 * default before it (unet-tiny, which older latent configs name), so `--latent` needs no `--model`.
 */
export const LATENT_STAND_INS: readonly string[] = ['unet-mini', 'unet-tiny'];

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  dataset: 'mnist',
  limit: 0,
  model: 'unet-mini',
  latent: '',
  imageSize: 0,
  steps: 1800,
  batchSize: 32,
  lr: 1e-3,
  warmup: 100,
  lrDecay: 'cosine',
  prediction: 'v',
  lossWeighting: 'min-snr',
  snrGamma: 5,
  timestepSampling: 'uniform',
  tLogSnrMean: 0,
  tLogSnrStd: 2,
  condition: 'class',
  textEncoder: 'clip',
  clipModel: '',
  textDim: 64,
  textLayers: 2,
  textHeads: 4,
  condDropout: 0.1,
  guidance: 1.5,
  emaDecay: 0.999,
  gradClip: 1,
  seed: 0,
  timesteps: 1000,
  betaSchedule: 'linear',
  outDir: 'runs/mnist',
  checkpointEvery: 250,
  keepEvery: 0,
  sampleEvery: 600,
  numSamples: 64,
  sampler: 'ddim',
  sampleSteps: 25,
  logEvery: 25,
  resume: false,
  workers: 1,
  microBatch: 32,
  evalEvery: 0,
  evalSamples: 256,
  evalClassifier: '',
};

export interface TrainResult {
  step: number;
  /** why the run ended */
  stopped: 'done' | 'interrupted' | 'nonfinite';
  lastLoss: number;
  smoothedLoss: number;
  seconds: number;
  checkpoint: string;
  outDir: string;
}

export interface TrainHooks {
  /** where progress text goes (default stderr) */
  stream?: NodeJS.WriteStream;
  /** called after every step (tests use it to interrupt a run) */
  onStep?: (step: number, loss: number) => void;
  /** return true to stop after the current step, as Ctrl-C does */
  shouldStop?: () => boolean;
  backend?: Backend;
}

export const CHECKPOINT_FILE = 'checkpoint.safetensors';

function stepName(step: number): string {
  return `step_${String(step).padStart(6, '0')}`;
}

/** The objective of a run's config. */
export function objectiveOf(cfg: Pick<TrainConfig, 'prediction' | 'lossWeighting' | 'snrGamma'>): Objective {
  return { prediction: cfg.prediction, weighting: cfg.lossWeighting, snrGamma: cfg.snrGamma };
}

/** The pieces of a run, built from a config: also what `sample` rebuilds from a checkpoint. */
export function buildRun(cfg: TrainConfig, dataset: ImageDataset) {
  const spec = cfg.latent && typeof cfg.model === 'string' && LATENT_STAND_INS.includes(cfg.model) ? 'unet-latent' : cfg.model;
  const preset = typeof spec === 'string' ? UNET_PRESETS[spec] : spec;
  if (preset) {
    const halvings = preset.channelMults.length - 1;
    if (dataset.height % 2 ** halvings !== 0 || dataset.width % 2 ** halvings !== 0) {
      const hint = cfg.latent ? ' (leave --model out: a latent run uses unet-latent)' : dataset.height === 14 ? ' (for 14x14 images use --model unet-14)' : '';
      throw new Error(`train: --model ${typeof spec === 'string' ? spec : 'custom'} halves its input ${halvings} times, so the ${cfg.latent ? 'latents' : 'images'} must be a multiple of ${2 ** halvings} on each side, but they are ${dataset.height}x${dataset.width}${hint}`);
    }
  }
  const tower = cfg.condition === 'text' && cfg.textEncoder !== 'scratch' ? clipTextTower(cfg, dataset) : null;
  const conditioner = tower ? tower.conditioner : makeConditioner(cfg.condition, dataset);
  const numClasses = cfg.condition === 'class' ? dataset.numClasses : 0;
  const text = tower ? tower.config : conditioner instanceof TextConditioner
    ? { vocabSize: conditioner.tokenizer.size, maxLength: conditioner.tokenizer.maxLength, dim: cfg.textDim, layers: cfg.textLayers, heads: cfg.textHeads }
    : undefined;
  const model = createUNet(spec, { inChannels: dataset.channels, numClasses, text, generator: new Generator(cfg.seed) });
  if (tower) {
    // the CLIP text tower's weights replace the drawn ones (the rest of the UNet is drawn as in a scratch run)
    const from = new Map(tower.encoder.namedParameters());
    noGrad(() => {
      for (const [name, p] of model.textEncoder!.namedParameters()) p.assign_(from.get(name)!.detach());
    });
    // frozen: autograd computes no gradient for the tower, and the optimizer does not hold it
    if (cfg.textEncoder === 'clip') for (const p of model.textEncoder!.parameters()) p.requiresGrad_(false);
  }
  const optimizer = new Adam(model.namedParameters().filter(([, p]) => p.requiresGrad), { lr: cfg.lr, betas: [0.9, 0.999], eps: 1e-8 });
  const ema = new EMA(model, { decay: cfg.emaDecay });
  const schedule = new NoiseSchedule({ numTimesteps: cfg.timesteps, schedule: cfg.betaSchedule });
  return { model, optimizer, ema, schedule, conditioner, modelName: typeof spec === 'string' ? spec : 'custom UNet' };
}

/**
 * The text tower of a trained CLIP-style model (src/clip/) and its tokenizer and captions,
 * for a text-conditional run that starts from it: the vocabulary is the CLIP model's, so
 * every prompt it scores the UNet can be asked.
 */
export function clipTextTower(cfg: Pick<TrainConfig, 'clipModel' | 'textEncoder' | 'textDim' | 'textLayers' | 'textHeads' | 'dataset'>, dataset: Pick<ImageDataset, 'numClasses' | 'name'>) {
  const spec = typeof cfg.dataset === 'string' ? cfg.dataset : dataset.name;
  const file = cfg.clipModel || shippedClipPath(spec);
  const flag = `--text-encoder ${cfg.textEncoder}`;
  if (!fs.existsSync(file)) {
    throw new Error(`train: ${flag}: no CLIP model at '${file}'; train one with tiny-ddpm clip --dataset ${spec.split(':')[0]}, name one with --clip-model, or pass --text-encoder scratch`);
  }
  let clip: ReturnType<typeof loadClip>;
  try {
    clip = loadClip(file);
  } catch (err) {
    throw new Error(`train: ${flag}: ${(err as Error).message.replace(/^clip-score: /, '')}`);
  }
  if (clip.conditioner.numClasses !== dataset.numClasses) {
    throw new Error(`train: ${flag}: the CLIP model '${file}' knows ${clip.conditioner.numClasses} classes, but the dataset has ${dataset.numClasses}`);
  }
  const config: TextEncoderConfig = { ...clip.model.text.config };
  const asked = { textDim: config.dim, textLayers: config.layers, textHeads: config.heads };
  for (const key of ['textDim', 'textLayers', 'textHeads'] as const) {
    if (cfg[key] !== asked[key]) {
      const f = key.replace(/[A-Z]/g, (ch) => '-' + ch.toLowerCase());
      throw new Error(`train: --${f} ${cfg[key]} does not match the CLIP text tower of '${file}' (--${f} ${asked[key]}); drop --${f}, or pass --text-encoder scratch`);
    }
  }
  return { file, config, encoder: clip.model.text, conditioner: clip.conditioner };
}

// the sampling pieces live in sampling.ts (which a browser bundle can load without the trainer's files and workers)
export { SAMPLER_KINDS, makeConditioner, makeSampler, samplerInput, type SamplerKind, type SamplingCondition } from './sampling';
import { SAMPLER_KINDS, makeConditioner, makeSampler, samplerInput, type SamplerKind, type SamplingCondition } from './sampling';

export { balancedLabels, dropLabels } from './condition';

/** Sample with the EMA weights (swapped in, then the training weights are put back). */
export function sampleWithEma(model: UNet, ema: EMA, sampler: Sampler, shape: number[], seed: number, parallel: DataParallel | null = null, prediction: Prediction = 'eps', condition?: SamplingCondition) {
  ema.store(model);
  ema.copyTo(model);
  try {
    model.eval();
    return sampleWithSnapshots(samplerInput(model, parallel, sampler.schedule, prediction, condition), sampler, shape, new Generator(seed));
  } finally {
    ema.restore(model);
    model.train();
  }
}

/** Read the loss log back (for the plot after a resume), dropping rows past `upToStep`. */
function readLossLog(file: string, upToStep: number) {
  const out = { steps: [] as number[], losses: [] as number[], smoothed: [] as number[], lines: [] as string[] };
  if (!fs.existsSync(file)) return out;
  for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
    if (!line.trim()) continue;
    const [s, l, sm] = line.split(',').map(Number);
    if (!Number.isFinite(s) || s > upToStep) continue;
    out.steps.push(s);
    out.losses.push(l);
    out.smoothed.push(sm);
    out.lines.push(line);
  }
  return out;
}

export function validateTrainConfig(cfg: TrainConfig): void {
  const flag = (name: string) => name.replace(/[A-Z]/g, (ch) => '-' + ch.toLowerCase()); // batchSize -> batch-size
  const posInt = (name: keyof TrainConfig, min = 1) => {
    const v = cfg[name] as number;
    if (!(Number.isInteger(v) && v >= min)) throw new Error(`train: --${flag(name)} must be an integer >= ${min}, got ${v}`);
  };
  posInt('steps');
  posInt('batchSize');
  posInt('checkpointEvery');
  posInt('keepEvery', 0);
  posInt('sampleEvery', 0);
  posInt('numSamples');
  posInt('sampleSteps');
  posInt('timesteps');
  posInt('warmup', 0);
  posInt('limit', 0);
  posInt('imageSize', 0);
  if (cfg.imageSize > 0 && cfg.latent) throw new Error('train: --image-size and --latent do not go together: a latent run diffuses the autoencoder\'s latents of the full-size images');
  if (cfg.imageSize > 0 && cfg.evalEvery > 0) throw new Error(`train: --eval-every scores full-size samples against the real images; a run at --image-size ${cfg.imageSize} is scored through its upsampler (sample --upsampler, then eval)`);
  posInt('logEvery');
  posInt('workers');
  posInt('microBatch');
  posInt('evalEvery', 0);
  posInt('evalSamples', 2);
  if (cfg.workers > cfg.batchSize) throw new Error(`train: --workers ${cfg.workers} is more than the batch size ${cfg.batchSize}`);
  if (!(cfg.lr > 0 && cfg.lr < 1)) throw new Error(`train: --lr must be in (0, 1), got ${cfg.lr}`);
  if (!(cfg.emaDecay >= 0 && cfg.emaDecay < 1)) throw new Error(`train: --ema-decay must be in [0, 1), got ${cfg.emaDecay}`);
  if (!(cfg.gradClip >= 0)) throw new Error(`train: --grad-clip must be >= 0, got ${cfg.gradClip}`);
  if (!Number.isInteger(cfg.seed)) throw new Error(`train: --seed must be an integer, got ${cfg.seed}`);
  if (!SAMPLER_KINDS.includes(cfg.sampler)) throw new Error(`train: --sampler must be one of ${SAMPLER_KINDS.join(', ')}, got ${cfg.sampler}`);
  if (cfg.lrDecay !== 'constant' && cfg.lrDecay !== 'cosine') throw new Error(`train: --lr-decay must be constant or cosine, got ${cfg.lrDecay}`);
  if (!PREDICTIONS.includes(cfg.prediction)) throw new Error(`train: --prediction must be one of ${PREDICTIONS.join(', ')}, got ${cfg.prediction}`);
  if (!LOSS_WEIGHTINGS.includes(cfg.lossWeighting)) throw new Error(`train: --loss-weighting must be one of ${LOSS_WEIGHTINGS.join(', ')}, got ${cfg.lossWeighting}`);
  if (!(cfg.snrGamma > 0)) throw new Error(`train: --snr-gamma must be > 0, got ${cfg.snrGamma}`);
  if (!TIMESTEP_SAMPLINGS.includes(cfg.timestepSampling)) throw new Error(`train: --t-sampling must be one of ${TIMESTEP_SAMPLINGS.join(', ')}, got ${cfg.timestepSampling}`);
  if (!Number.isFinite(cfg.tLogSnrMean)) throw new Error(`train: --t-log-snr-mean must be a finite number, got ${cfg.tLogSnrMean}`);
  if (!(cfg.tLogSnrStd > 0 && Number.isFinite(cfg.tLogSnrStd))) throw new Error(`train: --t-log-snr-std must be a finite number > 0, got ${cfg.tLogSnrStd}`);
  if (!CONDITION_KINDS.includes(cfg.condition)) throw new Error(`train: --condition must be one of ${CONDITION_KINDS.join(', ')}, got ${cfg.condition}`);
  if (cfg.condition === 'text') {
    if (!TEXT_ENCODER_STARTS.includes(cfg.textEncoder)) throw new Error(`train: --text-encoder must be one of ${TEXT_ENCODER_STARTS.join(', ')}, got ${cfg.textEncoder}`);
    posInt('textDim');
    posInt('textLayers');
    posInt('textHeads');
    if (cfg.textDim % cfg.textHeads !== 0) throw new Error(`train: --text-dim ${cfg.textDim} does not divide into --text-heads ${cfg.textHeads}`);
  }
  if (!(cfg.condDropout >= 0 && cfg.condDropout <= 1)) throw new Error(`train: --cond-dropout must be in [0, 1], got ${cfg.condDropout}`);
  if (!(Number.isFinite(cfg.guidance) && cfg.guidance >= 0)) throw new Error(`train: --guidance must be a finite number >= 0, got ${cfg.guidance}`);
}

/**
 * The settings that change what the network computes must match the checkpoint a run
 * resumes from (older checkpoints, from before these settings, were eps-predicting and
 * unconditional).
 */
function checkResumeMatches(file: string, cfg: TrainConfig): void {
  const f = readSafetensors(file);
  const saved = trainingCheckpointInfo(f, file).config as Partial<TrainConfig> & { kind?: string };
  if (isSamplingExport(f)) throw new Error(`train: --resume: '${file}' holds only the EMA weights of a run (tiny-ddpm export), for sampling: it has no optimizer state or data position to continue from`);
  if (saved.kind === 'autoencoder') throw new Error(`train: --resume: '${file}' is an autoencoder checkpoint (tiny-ddpm train-ae), not a diffusion run; continue it with tiny-ddpm train-ae --resume`);
  if (saved.kind === 'upsampler') throw new Error(`train: --resume: '${file}' is an upsampler checkpoint (tiny-ddpm train-upsampler), not a diffusion run; continue it with tiny-ddpm train-upsampler --resume`);
  const was = { condition: saved.condition ?? 'none', prediction: saved.prediction ?? 'eps', textEncoder: saved.textEncoder ?? 'scratch', imageSize: saved.imageSize ?? 0 };
  const keys: [keyof typeof was, string][] = [['condition', 'condition'], ['prediction', 'prediction'], ['imageSize', 'image-size']];
  if (cfg.condition === 'text' && was.condition === 'text') keys.push(['textEncoder', 'text-encoder']);
  const savedLatent = (saved as { latent?: LatentInfo }).latent;
  if (Boolean(savedLatent) !== Boolean(cfg.latent)) {
    throw new Error(`train: --resume: '${file}' was trained on ${savedLatent ? `the latents of '${savedLatent.autoencoder}'` : 'pixels'}, but this run asks for ${cfg.latent ? `the latents of '${cfg.latent}'` : 'pixels'}; ${savedLatent ? `pass --latent ${savedLatent.autoencoder}` : 'drop --latent'} to continue it`);
  }
  for (const [key, flag] of keys) {
    if (was[key] !== cfg[key]) {
      throw new Error(`train: --resume: '${file}' was trained with --${flag} ${was[key]}, but this run asks for --${flag} ${cfg[key]}; pass --${flag} ${was[key]} to continue it`);
    }
  }
}

/**
 * Train (or resume) a DDPM. Returns when the steps are done, on Ctrl-C (after saving), or
 * when the loss stops being finite (without saving: the last checkpoint stays the good one).
 */
export async function train(config: Partial<TrainConfig>, hooks: TrainHooks = {}): Promise<TrainResult> {
  const cfg: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, ...config };
  validateTrainConfig(cfg);
  const prevBackend = hooks.backend ? setBackend(hooks.backend) : getBackend();
  try {
    return await runTraining(cfg, hooks);
  } finally {
    if (hooks.backend) setBackend(prevBackend);
  }
}

async function runTraining(cfg: TrainConfig, hooks: TrainHooks): Promise<TrainResult> {
  const started = Date.now();
  const out = cfg.outDir;
  const checkpointFile = path.join(out, CHECKPOINT_FILE);
  const lossFile = path.join(out, 'loss.csv');

  // ---- data, model, optimizer, EMA, schedule
  const full = typeof cfg.dataset === 'string' ? loadDataset(cfg.dataset, { split: 'train', limit: cfg.limit || undefined }) : cfg.dataset;
  const pixels = cfg.imageSize > 0 ? downsampleDataset(full, cfg.imageSize) : full;
  if (cfg.batchSize > pixels.n) throw new Error(`train: batch size ${cfg.batchSize} is larger than the dataset (${pixels.n} images)`);
  const resumeFrom = cfg.resume === true ? checkpointFile : cfg.resume || null;
  if (resumeFrom) {
    if (!fs.existsSync(resumeFrom)) throw new Error(`train: --resume: no checkpoint at '${resumeFrom}'`);
    checkResumeMatches(resumeFrom, cfg);
  }
  // a latent run: the autoencoder (when resuming, the one stored in the checkpoint), the scale, the encoded training set
  const space: LatentSpace | null = cfg.latent
    ? openLatentSpace(cfg.latent, pixels, resumeFrom ? { checkpoint: resumeFrom, info: (readTrainingCheckpointInfo(resumeFrom).config as { latent: LatentInfo }).latent } : undefined)
    : null;
  const dataset = space ? space.dataset : pixels;
  // latents are used as they are; pixels are mapped from [0, 1] to [-1, 1] (and color images flipped at random)
  const loader = new DataLoader(dataset, { batchSize: cfg.batchSize, seed: cfg.seed, horizontalFlip: !space && dataset.channels === 3, scaleToMinusOneOne: !space });
  const { model, optimizer, ema, schedule, conditioner, modelName } = buildRun(cfg, dataset);
  fs.mkdirSync(path.join(out, 'samples'), { recursive: true }); // after every check of the config and the data, so a bad run writes nothing
  const generator = new Generator(cfg.seed + 1); // draws t and the noise of Algorithm 1
  // cosine: from the peak after the warmup to 0 at the last step (a run no longer than its warmup only warms up)
  const lrAt = lrSchedule({ lr: cfg.lr, warmupSteps: cfg.warmup, decay: cfg.lrDecay, totalSteps: Math.max(cfg.steps, cfg.warmup + 1) });
  const objective = objectiveOf(cfg);
  const numClasses = conditioner?.numClasses ?? 0; // 0 = unconditional
  const savedConfig = {
    ...cfg, dataset: typeof cfg.dataset === 'string' ? cfg.dataset : cfg.dataset.name, resume: false, imageShape: [dataset.channels, dataset.height, dataset.width], modelConfig: model.config,
    // a latent run: imageShape is the latents' (what the UNet sees); the autoencoder's weights are in the checkpoint
    ...(space ? { latent: space.info } : {}),
    // a text-conditional checkpoint carries its vocabulary and captions
    ...(conditioner instanceof TextConditioner ? { text: conditioner.state() } : {}),
  };

  // ---- resume
  let step = 0;
  let resumedExtra: { elapsedSeconds?: number; smoothing?: { emaLoss: number; emaWeight: number } } = {};
  if (resumeFrom) {
    const info = loadTrainingCheckpoint(resumeFrom, { model, ema, optimizer });
    step = info.step;
    generator.setState((info.rng as { trainer: ReturnType<Generator['getState']> }).trainer);
    loader.setState(info.dataLoader as ReturnType<DataLoader['getState']>);
    resumedExtra = (info.extra ?? {}) as typeof resumedExtra;
  }
  // training time over all sessions of this run, so loss.csv's elapsed_s continues after a resume
  const elapsed = () => (resumedExtra.elapsedSeconds ?? 0) + (Date.now() - started) / 1000;
  fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(savedConfig, null, 2) + '\n');
  const history = readLossLog(lossFile, step);
  // rewrite the log up to the resumed step, so steps after the checkpoint are not listed twice
  fs.writeFileSync(lossFile, ['step,loss,smoothed_loss,lr,elapsed_s', ...history.lines].join('\n') + '\n');

  const save = () =>
    saveTrainingCheckpoint(checkpointFile, {
      step, model, ema, optimizer, config: savedConfig,
      rng: { trainer: generator.getState() }, dataLoader: loader.getState(),
      extra: { elapsedSeconds: elapsed(), smoothing: progress.getState(), backend: getBackend().name },
      ...(space ? { modules: { autoencoder: space.autoencoder } } : {}),
    });
  const [c, h, w] = [dataset.channels, dataset.height, dataset.width];
  const sampleShape = [cfg.numSamples, c, h, w];
  // what the pictures and evaluations show: images (a latent run's samples decoded)
  const [pc, ph, pw] = [pixels.channels, pixels.height, pixels.width];
  const toImages = (x: Float32Array, n: number) => (space ? space.decode(x, n) : x);
  // sample quality every evalEvery steps (src/metrics/training-eval.ts); built now, so a missing classifier fails before training
  const evaluator = cfg.evalEvery > 0 ? new TrainingEvaluator({ outDir: out, dataset: cfg.dataset, n: cfg.evalSamples, classifier: cfg.evalClassifier, resumedStep: step }) : null;
  // data parallelism: the workers run the same backend, for training steps and sample grids
  const parallel = cfg.workers > 1 ? new DataParallel(cfg.workers, getBackend().name, model, schedule, cfg.microBatch, objective) : null;
  // conditional runs sample balanced classes (a text run: each class's first caption) with guidance cfg.guidance
  const conditionFor = (n: number): SamplingCondition | undefined => (conditioner ? { labels: conditioner.forClasses(balancedLabels(n, numClasses)), guidance: cfg.guidance } : undefined);
  const evaluate = () => {
    const t0 = Date.now();
    const run = sampleWithEma(model, ema, makeSampler('ddim', schedule, cfg.sampleSteps), [cfg.evalSamples, c, h, w], cfg.seed + 3, parallel, cfg.prediction, conditionFor(cfg.evalSamples));
    return evaluator!.evaluate(step, toImages(run.samples.toArray(), cfg.evalSamples), pc, ph, pw, (Date.now() - t0) / 1000).line;
  };
  const writeSamples = () => {
    const sampler = makeSampler(cfg.sampler, schedule, cfg.sampleSteps);
    const run = sampleWithEma(model, ema, sampler, sampleShape, cfg.seed + 2, parallel, cfg.prediction, conditionFor(cfg.numSamples));
    const file = path.join(out, 'samples', `${stepName(step)}.png`);
    // conditional: one column per class (balancedLabels); unconditional: a square grid
    writeGridPng(file, toImages(run.samples.toArray(), cfg.numSamples), cfg.numSamples, pc, ph, pw, { nrow: numClasses > 0 ? numClasses : Math.ceil(Math.sqrt(cfg.numSamples)) });
    fs.copyFileSync(file, path.join(out, 'samples.png'));
    const shown = space ? { ...run, snapshots: run.snapshots.map((x) => space.decode(x, cfg.numSamples)) } : run;
    writeReverseProcessPng(path.join(out, 'reverse_process.png'), shown, [cfg.numSamples, pc, ph, pw]);
    return file;
  };
  const plotLoss = () => {
    if (history.steps.length < 2) return;
    plotLossCurve(path.join(out, 'loss.png'), [
      { name: 'loss', xs: history.steps, ys: history.losses },
      { name: 'smoothed', xs: history.steps, ys: history.smoothed },
    ], { title: 'DDPM TRAINING LOSS', xLabel: 'step', yLabel: objective.weighting === 'none' ? `mse (${objective.prediction})` : `weighted mse (${objective.prediction})`, logY: true });
  };

  // ---- Ctrl-C: finish the current step, save, and stop
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130); // a second Ctrl-C exits at once
    interrupted = true;
  };
  process.on('SIGINT', onSigint);

  const progress = new ProgressBar({ total: cfg.steps, batchSize: cfg.batchSize, stream: hooks.stream, logEvery: cfg.logEvery, startStep: step });
  progress.setState(resumedExtra.smoothing);
  progress.log(`training ${modelName} (${model.numParameters().toLocaleString('en-US')} parameters) on ${dataset.name} (${dataset.n} ${space ? `latents ${c}x${h}x${w}, scaled by ${space.info.scale.toPrecision(4)}, of images ${pc}x${ph}x${pw}` : `images ${c}x${h}x${w}`}), backend ${getBackend().name}${cfg.workers > 1 ? ` x ${cfg.workers} threads` : ''}, steps ${step}..${cfg.steps}, batch ${cfg.batchSize}`);
  progress.log(`  predicting ${cfg.prediction}, loss weighting ${cfg.lossWeighting === 'min-snr' ? `min-SNR-${cfg.snrGamma}` : 'none'}${cfg.timestepSampling === 'uniform' ? '' : `, t drawn with ln SNR ~ N(${cfg.tLogSnrMean}, ${cfg.tLogSnrStd}^2)`}, lr ${cfg.lr} ${cfg.lrDecay === 'cosine' ? 'decaying to 0 (cosine)' : 'constant'} after ${cfg.warmup} warmup steps, ${conditioner?.kind === 'class' ? `class-conditional (${numClasses} classes, ${cfg.condDropout * 100}% dropped to the null class; grids at guidance ${cfg.guidance})` : ''}` +
    `${conditioner instanceof TextConditioner ? `text-conditional (${conditioner.tokenizer.size - 3} words, prompts of up to ${conditioner.length - 1}; text encoder ${model.textEncoder!.config.layers} blocks of width ${model.textEncoder!.config.dim}, ${cfg.textEncoder === 'clip' ? `the frozen text tower of ${cfg.clipModel || 'the shipped CLIP model'}` : cfg.textEncoder === 'clip-tuned' ? `from the text tower of ${cfg.clipModel || 'the shipped CLIP model'}, trained on` : 'trained from scratch'}; ${cfg.condDropout * 100}% empty prompts; grids at guidance ${cfg.guidance})` : ''}${conditioner ? '' : 'unconditional'}`);
  let lastLoss = NaN;
  let stopped: TrainResult['stopped'] = 'done';
  const timesteps = new TimestepSampler(schedule, { kind: cfg.timestepSampling, logSnrMean: cfg.tLogSnrMean, logSnrStd: cfg.tLogSnrStd });
  const stepParts: StepParts = { model, optimizer, ema, schedule, conditioner, objective, timesteps, generator, condDropout: cfg.condDropout, gradClip: cfg.gradClip, microBatch: cfg.microBatch, parallel };
  try {
    while (step < cfg.steps) {
      // Algorithm 1 (step.ts): t ~ Uniform({0..T-1}) (or --t-sampling's p(t)), eps ~ N(0, I); the loss regresses the output onto the objective's target (eps, v or x0), weighted per t;
      // classifier-free guidance's training: the class, or for condDropout of the images the null class
      const outcome = optimizationStep(stepParts, loader.next(), lrAt(step));
      lastLoss = outcome.loss;
      if (!outcome.updated) {
        stopped = 'nonfinite';
        const last = `The last good checkpoint is ${fs.existsSync(checkpointFile) ? checkpointFile : '(none yet)'}.`;
        progress.log(Number.isFinite(lastLoss)
          ? `train: the gradient norm became ${outcome.gradNorm} at step ${step + 1}; stopping before the update. ${last}`
          : `train: the loss became ${lastLoss} at step ${step + 1}; stopping without saving. ${last} Try a lower --lr or --grad-clip 1.`);
        break;
      }
      step++;

      progress.update(step, lastLoss);
      history.steps.push(step);
      history.losses.push(lastLoss);
      history.smoothed.push(progress.smoothedLoss);
      fs.appendFileSync(lossFile, `${step},${lastLoss},${progress.smoothedLoss},${optimizer.lr},${elapsed().toFixed(2)}\n`);
      hooks.onStep?.(step, lastLoss);
      // let the event loop run, so that a Ctrl-C (SIGINT) is noticed between steps
      await new Promise((resolve) => setImmediate(resolve));

      const last = step === cfg.steps;
      if (step % cfg.checkpointEvery === 0 || last) save();
      if (cfg.keepEvery > 0 && (step % cfg.keepEvery === 0 || last)) {
        if (step % cfg.checkpointEvery !== 0 && !last) save();
        fs.mkdirSync(path.join(out, 'checkpoints'), { recursive: true });
        const kept = path.join(out, 'checkpoints', `${stepName(step)}.safetensors`);
        fs.copyFileSync(checkpointFile, kept + '.tmp');
        fs.renameSync(kept + '.tmp', kept);
      }
      if ((cfg.sampleEvery > 0 && step % cfg.sampleEvery === 0) || last) {
        const file = writeSamples();
        plotLoss();
        progress.log(`step ${step}: samples in ${file}`);
      }
      if (evaluator && (step % cfg.evalEvery === 0 || last)) progress.log(evaluate());
      if (interrupted || hooks.shouldStop?.()) {
        if (step % cfg.checkpointEvery !== 0 && !last) save();
        stopped = 'interrupted';
        progress.log(`train: stopped at step ${step}; checkpoint saved to ${checkpointFile} (continue with --resume)`);
        break;
      }
    }
  } finally {
    await parallel?.close();
    process.removeListener('SIGINT', onSigint);
    progress.finish();
  }
  plotLoss();
  return { step, stopped, lastLoss, smoothedLoss: progress.smoothedLoss, seconds: (Date.now() - started) / 1000, checkpoint: checkpointFile, outDir: out };
}
