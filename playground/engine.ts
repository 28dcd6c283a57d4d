/**
 * The playground's engine: what the page does with the library, and nothing of the page
 * itself (no DOM), so the same code runs in a browser tab and in Node (test/playground.test.ts
 * runs it in both and compares the pixels).
 *
 * Everything here is the library the command line uses: the same UNet, samplers, forward
 * process and training step (src/train/step.ts), on a gpu.js backend; in the browser that is
 * gpu.js's WebGL mode on the learner's GPU, or WebAssembly where there is none. Only the
 * files differ: the page gets its checkpoint and digits as bytes it fetched, not from disk.
 */
import { createBackend, type BackendChoice } from '../src/backend/gpujs/select';
import { setBackend } from '../src/backend/registry';
import { parseSafetensors } from '../src/checkpoint/safetensors';
import { isTrainingCheckpoint, loadModelWeightsFrom, serializeTrainingCheckpoint, trainingCheckpointInfo } from '../src/checkpoint/training';
import { randn, tensor } from '../src/creation';
import type { ImageDataset } from '../src/data/dataset';
import { MNIST_CLASS_NAMES, toSignedPixels } from '../src/data/dataset';
import { DataLoader } from '../src/data/loader';
import { addNoise, denoisingLoss, drawTimestepsAndNoise } from '../src/diffusion/forward';
import { noGrad } from '../src/autograd';
import { tidy } from '../src/tensor';
import type { LossWeighting, Prediction } from '../src/diffusion/objective';
import { reverseProcess } from '../src/diffusion/samplers';
import { NoiseSchedule, type BetaSchedule } from '../src/diffusion/schedule';
import { createUNet, UNET_PRESETS, type UNet, type UNetConfig } from '../src/nn/unet';
import { Adam } from '../src/optim/adam';
import { EMA } from '../src/optim/ema';
import { lrSchedule } from '../src/optim/schedule';
import { Generator } from '../src/random';
import { balancedLabels, ClassConditioner, TextConditioner, type TextConditionState } from '../src/train/condition';
import { makeSampler, samplerInput, type SamplingCondition } from '../src/train/sampling';
import { optimizationStep, type StepOutcome, type StepParts } from '../src/train/step';

/** The backends a page may ask for (`?backend=`): auto times a small probe on each that starts and keeps the fastest. */
export const PLAYGROUND_BACKENDS = ['auto', 'gpujs:gpu', 'gpujs:webasm', 'gpujs:cpu', 'ref'] as const;

/** Start a backend and make it the library's current one; the reason says why this one (what auto measured, or that it was asked for). */
export function startBackend(spec: string): BackendChoice {
  const choice = createBackend(spec);
  setBackend(choice.backend);
  return choice;
}

// ---------------------------------------------------------------------------------------
// a trained model, from the bytes of a checkpoint

export interface PlaygroundModel {
  model: UNet;
  schedule: NoiseSchedule;
  /** what the network predicts (the sampler turns it into eps) */
  prediction: Prediction;
  /** [channels, height, width] of one image */
  imageShape: [number, number, number];
  /** null: unconditional */
  conditioner: ClassConditioner | TextConditioner | null;
  /** the guidance scale the run drew its grids with (1 for an unconditional run) */
  trainedGuidance: number;
  classNames: string[];
  /** the optimizer steps the run had taken */
  step: number;
  /** which weights were loaded: a checkpoint's EMA (or raw) weights */
  source: 'weights' | 'ema' | 'model';
  /** a line for the page: what was loaded */
  summary: string;
}

/**
 * Rebuild the run's UNet from a training checkpoint (or an export of one) and load its EMA
 * weights, as `tiny-ddpm sample` does. Every way a file can be wrong is one message that
 * names the file: not safetensors, truncated, a plain weights file, an autoencoder, a latent
 * run, weights that do not fit the network its config describes.
 */
export function loadPlaygroundModel(bytes: Uint8Array, name: string): PlaygroundModel {
  const file = parseSafetensors(bytes, name);
  if (!isTrainingCheckpoint(file)) {
    throw new Error(`'${name}' is a safetensors file but not a tiny-ddpm checkpoint (no 'format' metadata): the playground needs a training checkpoint, or an export of one, which carries the network's config`);
  }
  const info = trainingCheckpointInfo(file, name);
  const cfg = info.config as {
    kind?: string; modelConfig?: UNetConfig; imageShape?: number[]; timesteps?: number; betaSchedule?: BetaSchedule;
    prediction?: Prediction; guidance?: number; text?: TextConditionState; latent?: unknown; dataset?: string;
  } | null;
  if (cfg?.kind === 'autoencoder') throw new Error(`'${name}' is an autoencoder checkpoint (tiny-ddpm train-ae), not a diffusion run`);
  if (cfg?.latent) throw new Error(`'${name}' is a latent diffusion run: the playground samples pixel-space runs (use tiny-ddpm sample for this one)`);
  if (!cfg?.modelConfig || !cfg.imageShape) throw new Error(`'${name}' carries no network config (modelConfig, imageShape) to rebuild its UNet from`);
  const modelConfig = cfg.modelConfig;
  const conditioner = modelConfig.text
    ? cfg.text ? new TextConditioner(cfg.text) : null
    : modelConfig.numClasses ? new ClassConditioner(modelConfig.numClasses) : null;
  if (modelConfig.text && !conditioner) throw new Error(`'${name}' is text-conditional but carries no vocabulary`);
  const model = createUNet(modelConfig);
  const { source } = loadModelWeightsFrom(file, name, model, { prefer: 'ema' });
  model.eval();
  const [c, h, w] = cfg.imageShape;
  const classNames = conditioner ? (conditioner.numClasses === 10 && (cfg.dataset ?? 'mnist').startsWith('mnist') ? [...MNIST_CLASS_NAMES] : Array.from({ length: conditioner.numClasses }, (_, k) => String(k))) : [];
  const kind = conditioner instanceof TextConditioner ? 'text-conditional' : conditioner ? `class-conditional (${conditioner.numClasses} classes)` : 'unconditional';
  return {
    model,
    schedule: new NoiseSchedule({ numTimesteps: cfg.timesteps ?? 1000, schedule: cfg.betaSchedule ?? 'linear' }),
    prediction: cfg.prediction ?? 'eps',
    imageShape: [c, h, w],
    conditioner,
    trainedGuidance: cfg.guidance ?? 1,
    classNames,
    step: info.step,
    source,
    summary: `${name}: a ${kind} UNet of ${model.numParameters().toLocaleString('en-US')} parameters predicting ${cfg.prediction ?? 'eps'}, ` +
      `${info.step} training steps, ${source === 'ema' ? 'its EMA weights' : source === 'model' ? 'its raw weights' : 'its weights'}; images ${c}x${h}x${w}, T = ${cfg.timesteps ?? 1000}`,
  };
}

// ---------------------------------------------------------------------------------------
// sampling, one step at a time

export interface SampleSettings {
  n: number;
  sampler: 'ddim' | 'ddpm';
  /** DDIM steps (DDPM always takes all T) */
  steps: number;
  /** DDIM noise: 0 deterministic, 1 DDPM-like */
  eta: number;
  seed: number;
  /** conditional models: the class of every image, or null for the classes in turn */
  classIndex?: number | null;
  /** text-conditional models: the prompt of every image (default: each class's first caption, in turn) */
  prompt?: string | null;
  /** conditional models: the guidance scale (default: the run's) */
  guidance?: number;
}

/** One frame of the reverse process: x after `index` of `total` steps (x_T at index 0), and that step's predicted x_0. */
export interface SampleFrame {
  index: number;
  total: number;
  /** the timestep just denoised; null for x_T */
  t: number | null;
  /** [n, c, h, w] in the model's range ([-1, 1] for images) */
  x: Float32Array;
  x0: Float32Array | null;
}

/** What each image is asked for: the condition rows, and the class per image for the page's labels. */
export function samplingCondition(m: PlaygroundModel, s: SampleSettings): { condition?: SamplingCondition; classes: Int32Array | null } {
  if (!m.conditioner) return { classes: null };
  const numClasses = m.conditioner.numClasses;
  if (s.classIndex !== undefined && s.classIndex !== null && !(Number.isInteger(s.classIndex) && s.classIndex >= 0 && s.classIndex < numClasses)) {
    throw new Error(`class ${s.classIndex} is not a class of this model (0-${numClasses - 1})`);
  }
  const classes = s.classIndex === undefined || s.classIndex === null ? balancedLabels(s.n, numClasses) : new Int32Array(s.n).fill(s.classIndex);
  const guidance = s.guidance ?? m.trainedGuidance;
  if (!(Number.isFinite(guidance) && guidance >= 0)) throw new Error(`guidance must be a number >= 0, got ${guidance}`);
  let labels: Int32Array;
  if (m.conditioner instanceof TextConditioner && s.prompt) labels = m.conditioner.forPrompts(Array.from({ length: s.n }, () => s.prompt!));
  else labels = m.conditioner.forClasses(classes);
  return { condition: { labels, guidance }, classes: m.conditioner instanceof TextConditioner && s.prompt ? null : classes };
}

/**
 * The reverse process as frames, one per step: the page draws one per animation frame, so it
 * never holds the tab for longer than one network evaluation (two with guidance). The same
 * seed gives the same starting noise, and the same numbers, as `tiny-ddpm sample` on one
 * batch of the same size.
 */
export function* sampleFrames(m: PlaygroundModel, s: SampleSettings): globalThis.Generator<SampleFrame, Float32Array, void> {
  if (!(Number.isInteger(s.n) && s.n >= 1)) throw new Error(`the number of images must be a positive integer, got ${s.n}`);
  if (!(Number.isInteger(s.steps) && s.steps >= 1)) throw new Error(`steps must be a positive integer, got ${s.steps}`);
  if (!(s.eta >= 0)) throw new Error(`eta must be >= 0, got ${s.eta}`);
  const sampler = makeSampler(s.sampler, m.schedule, s.steps, s.eta);
  const { condition } = samplingCondition(m, s);
  const predict = samplerInput(m.model, null, m.schedule, m.prediction, condition);
  const total = sampler.timesteps.length;
  const run = reverseProcess(predict, sampler, [s.n, ...m.imageShape], new Generator(s.seed));
  let index = 0;
  for (let r = run.next(); ; r = run.next()) {
    if (r.done) {
      const out = r.value.toArray();
      r.value.dispose();
      return out;
    }
    yield { index, total, t: r.value.t, x: r.value.x.toArray(), x0: r.value.predOriginal ? r.value.predOriginal.toArray() : null };
    index++;
  }
}

// ---------------------------------------------------------------------------------------
// the forward process q(x_t | x_0)

export interface NoisedImage {
  /** x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, in the model's range */
  xt: Float32Array;
  /** eps ~ N(0, I), the noise that was added */
  noise: Float32Array;
  signalScale: number;
  noiseScale: number;
}

/** One image (values in [0, 1], [c, h, w]) noised to timestep t, with noise from `seed`; through the library's addNoise. */
export function noiseImage(schedule: NoiseSchedule, image: Float32Array, shape: [number, number, number], t: number, seed: number): NoisedImage {
  if (!(Number.isInteger(t) && t >= 0 && t < schedule.T)) throw new Error(`t must be an integer in 0-${schedule.T - 1}, got ${t}`);
  const x0 = tensor(toSignedPixels(image), [1, ...shape]);
  const noise = randn([1, ...shape], { generator: new Generator(seed) });
  const xt = addNoise(schedule, x0, noise, [t]);
  const abar = schedule.alphasCumprod[t];
  return { xt: xt.toArray(), noise: noise.toArray(), signalScale: Math.sqrt(abar), noiseScale: Math.sqrt(1 - abar) };
}

// ---------------------------------------------------------------------------------------
// training in the tab

export interface TabTrainingConfig {
  model: string;
  batchSize: number;
  /** optimizer steps of the run (the learning rate decays to 0 at the last one) */
  steps: number;
  lr: number;
  warmup: number;
  seed: number;
  condition: 'class' | 'none';
  prediction: Prediction;
  lossWeighting: LossWeighting;
  snrGamma: number;
  emaDecay: number;
  condDropout: number;
  gradClip: number;
  guidance: number;
  timesteps: number;
  betaSchedule: BetaSchedule;
}

/**
 * A run small enough for a tab: unet-mini (a quarter of unet-tiny's parameters) at batch 8,
 * the command line's recipe otherwise (v prediction, min-SNR-5, warmup then cosine decay,
 * gradient clip 1, class-conditional with 10% dropped for guidance).
 */
export const TAB_TRAINING_DEFAULTS: Readonly<TabTrainingConfig> = {
  model: 'unet-mini', batchSize: 8, steps: 2000, lr: 1e-3, warmup: 100, seed: 0,
  condition: 'class', prediction: 'v', lossWeighting: 'min-snr', snrGamma: 5,
  emaDecay: 0.995, condDropout: 0.1, gradClip: 1, guidance: 2, timesteps: 1000, betaSchedule: 'linear',
};

/** The bundled digits as the page gets them: bytes (0-255) and labels, as the build wrote them from the library's loader. */
export function digitsDataset(bytes: Uint8Array, labels: Uint8Array, name = 'mnist-bundled/train'): ImageDataset {
  const per = 28 * 28;
  if (bytes.length !== labels.length * per) throw new Error(`digits: ${bytes.length} bytes for ${labels.length} labels, expected ${labels.length * per}`);
  return {
    name, images: Float32Array.from(bytes, (b) => b / 255), labels: Int32Array.from(labels), n: labels.length,
    channels: 1, height: 28, width: 28, numClasses: 10, classNames: [...MNIST_CLASS_NAMES],
  };
}

export class TabTraining {
  readonly config: TabTrainingConfig;
  readonly model: UNet;
  readonly losses: number[] = [];
  step = 0;
  private readonly parts: StepParts;
  private readonly loader: DataLoader;
  private readonly lrAt: (step: number) => number;
  private readonly dataset: ImageDataset;
  private readonly generator: Generator;

  constructor(config: Partial<TabTrainingConfig>, dataset: ImageDataset) {
    const cfg = { ...TAB_TRAINING_DEFAULTS, ...config };
    if (!UNET_PRESETS[cfg.model]) throw new Error(`unknown model '${cfg.model}'; presets: ${Object.keys(UNET_PRESETS).join(', ')}`);
    if (!(Number.isInteger(cfg.batchSize) && cfg.batchSize >= 1 && cfg.batchSize <= dataset.n)) throw new Error(`batch size must be an integer in 1-${dataset.n}, got ${cfg.batchSize}`);
    if (!(Number.isInteger(cfg.steps) && cfg.steps >= 1)) throw new Error(`steps must be a positive integer, got ${cfg.steps}`);
    if (!(cfg.lr > 0)) throw new Error(`the learning rate must be > 0, got ${cfg.lr}`);
    this.config = cfg;
    this.dataset = dataset;
    const conditioner = cfg.condition === 'class' ? new ClassConditioner(dataset.numClasses) : null;
    this.model = createUNet(cfg.model, { inChannels: dataset.channels, numClasses: conditioner ? dataset.numClasses : 0, generator: new Generator(cfg.seed) });
    this.generator = new Generator(cfg.seed + 1);
    this.parts = {
      model: this.model,
      optimizer: new Adam(this.model.namedParameters(), { lr: cfg.lr, betas: [0.9, 0.999], eps: 1e-8 }),
      ema: new EMA(this.model, { decay: cfg.emaDecay }),
      schedule: new NoiseSchedule({ numTimesteps: cfg.timesteps, schedule: cfg.betaSchedule }),
      conditioner,
      objective: { prediction: cfg.prediction, weighting: cfg.lossWeighting, snrGamma: cfg.snrGamma },
      generator: this.generator,
      condDropout: cfg.condDropout,
      gradClip: cfg.gradClip,
      microBatch: cfg.batchSize,
    };
    this.loader = new DataLoader(dataset, { batchSize: cfg.batchSize, seed: cfg.seed, scaleToMinusOneOne: true });
    this.lrAt = lrSchedule({ lr: cfg.lr, warmupSteps: cfg.warmup, decay: 'cosine', totalSteps: Math.max(cfg.steps, cfg.warmup + 1) });
  }

  get done(): boolean {
    return this.step >= this.config.steps;
  }

  /** One optimizer step (the trainer's own, src/train/step.ts). A loss that is not finite changes nothing and is reported. */
  trainStep(): StepOutcome {
    if (this.done) throw new Error(`the run has taken its ${this.config.steps} steps`);
    const outcome = optimizationStep(this.parts, this.loader.next(), this.lrAt(this.step));
    if (!outcome.updated) return outcome;
    this.step++;
    this.losses.push(outcome.loss);
    return outcome;
  }

  /**
   * The loss on one fixed batch (the first n training digits with their classes, t and noise
   * drawn once from seed 7), with the current weights and no gradient. The training loss of a
   * step is noisy because each step draws new timesteps; this one changes only with the weights,
   * so it shows learning in a few steps.
   */
  fixedBatchLoss(n = 16): number {
    const k = Math.min(n, this.dataset.n);
    const [c, h, w] = [this.dataset.channels, this.dataset.height, this.dataset.width];
    const x0 = tensor(toSignedPixels(this.dataset.images.subarray(0, k * c * h * w)), [k, c, h, w]);
    const { t, noise } = drawTimestepsAndNoise(this.parts.schedule, x0.shape, new Generator(7));
    const labels = this.parts.conditioner ? this.parts.conditioner.forClasses(this.dataset.labels.slice(0, k)) : undefined;
    return noGrad(() => tidy(() => denoisingLoss((x, tt, y) => this.model.forward(x, tt, y), this.parts.schedule, x0, t, noise, { objective: this.parts.objective, labels }).loss.item()));
  }

  /** The model as sampling sees it: the EMA weights in a network of their own (training goes on untouched). */
  samplingModel(): PlaygroundModel {
    const net = createUNet(this.model.config);
    this.parts.ema.copyTo(net);
    net.eval();
    const c = this.parts.conditioner as ClassConditioner | null;
    return {
      model: net, schedule: this.parts.schedule, prediction: this.config.prediction, imageShape: [this.dataset.channels, this.dataset.height, this.dataset.width],
      conditioner: c, trainedGuidance: c ? this.config.guidance : 1, classNames: c ? [...MNIST_CLASS_NAMES] : [], step: this.step, source: 'ema',
      summary: `the tab's run: ${this.config.model}, ${this.step} steps, EMA weights`,
    };
  }

  /**
   * The run as a training checkpoint: the file the command line writes (weights, EMA, Adam,
   * the run's config, the RNG and data-loader state), so `tiny-ddpm sample --checkpoint` reads it.
   */
  checkpointBytes(): Uint8Array {
    const cfg = this.config;
    const d = this.dataset;
    return serializeTrainingCheckpoint({
      step: this.step, model: this.model, ema: this.parts.ema, optimizer: this.parts.optimizer,
      config: {
        ...cfg, dataset: 'mnist', trainedIn: 'playground', lrDecay: 'cosine', microBatch: cfg.batchSize,
        imageShape: [d.channels, d.height, d.width], modelConfig: this.model.config,
      },
      rng: { trainer: this.generator.getState() },
      dataLoader: this.loader.getState(),
      extra: { losses: this.losses.length },
    });
  }
}
