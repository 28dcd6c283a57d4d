/** The bodies of `tiny-ddpm sample` and `tiny-ddpm noise`. */
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors } from '../checkpoint/safetensors';
import { loadCheckpointModule, loadModelWeights, readTrainingCheckpointInfo, isTrainingCheckpoint } from '../checkpoint/training';
import { Autoencoder } from '../vae/model';
import { decodeLatents, type LatentInfo } from '../vae/latent';
import type { Upsampler } from '../upsample/model';
import { loadUpsampler, upsampleImages, UPSAMPLER_KIND } from '../upsample/train';
import { noGrad } from '../autograd';
import { tensor } from '../creation';
import { upsampleNearest2d } from '../ops';
import { loadDataset } from '../data';
import { getImage, toSignedPixels } from '../data/dataset';
import { NoiseSchedule, type BetaSchedule } from '../diffusion/schedule';
import { writeGridPng } from '../image/png';
import { createUNet, UNET_PRESETS, type UNetConfig } from '../nn/unet';
import { Generator } from '../random';
import { concat } from '../ops/shape';
import { makeSampler, samplerInput, type SamplerKind } from '../train/trainer';
import { balancedLabels, ClassConditioner, TextConditioner, type TextConditionState } from '../train/condition';
import { autoWorkers, DataParallel } from '../train/parallel';
import type { Prediction } from '../diffusion/objective';
import { SAMPLE_LABELS_FILE, type SampleLabelsFile } from './eval';
import type { Backend } from '../backend/backend';
import { getBackend } from '../backend/registry';
import { sampleWithSnapshots, writeNoiseStripPng, writeReverseProcessPng, writeSingleImages } from '../train/pictures';

export interface SampleArgs {
  checkpoint: string;
  n: number;
  sampler: SamplerKind;
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
  /** conditional checkpoints: the class(es) to draw, e.g. '7' or '3,8' (default: all classes in turn) */
  class?: string;
  /** text-conditional checkpoints: the prompt(s), several separated by '|' */
  prompt?: string;
  /** class-conditional checkpoints: guidance scale(s), e.g. '2' or '0,1,2,3,5' (default: the one the run trained its grids with) */
  guidance?: string;
  /** the two-stage sampler: an upsampler (train-upsampler) that enlarges the checkpoint's small samples */
  upsampler?: string;
}

/** A comma-separated list of numbers from a flag, each checked. */
function numberList(flag: string, text: string, check: (v: number) => boolean, what: string): number[] {
  const values = String(text).split(',').map((p) => p.trim());
  return values.map((p) => {
    const v = p === '' ? NaN : Number(p);
    if (!check(v)) throw new Error(`sample: --${flag} must be ${what}, got '${p}'`);
    return v;
  });
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
  // checkpoints from before these settings predicted eps and were unconditional
  let prediction: Prediction = 'eps';
  let trainedGuidance = 1;
  let textState: TextConditionState | undefined;
  let latent: LatentInfo | undefined;
  if (isTrainingCheckpoint(file)) {
    const cfg = readTrainingCheckpointInfo(a.checkpoint).config as {
      modelConfig: UNetConfig; imageShape: number[]; timesteps: number; betaSchedule: BetaSchedule; prediction?: Prediction; guidance?: number; text?: TextConditionState;
    };
    if ((cfg as { kind?: string }).kind === 'autoencoder') throw new Error(`sample: '${a.checkpoint}' is an autoencoder checkpoint (tiny-ddpm train-ae), not a diffusion run; sample its prior with --vae ${a.checkpoint}`);
    if ((cfg as { kind?: string }).kind === UPSAMPLER_KIND) throw new Error(`sample: '${a.checkpoint}' is an upsampler checkpoint (tiny-ddpm train-upsampler), not a diffusion run; give it as --upsampler beside the checkpoint of a small-image run (train --image-size)`);
    textState = cfg.text;
    latent = (cfg as { latent?: LatentInfo }).latent;
    modelConfig = cfg.modelConfig;
    imageShape = cfg.imageShape;
    timesteps = cfg.timesteps;
    betaSchedule = cfg.betaSchedule;
    prediction = cfg.prediction ?? 'eps';
    trainedGuidance = cfg.guidance ?? 1;
  } else {
    if (!a.model) throw new Error(`sample: '${a.checkpoint}' is a plain weights file; say which network it holds with --model (${Object.keys(UNET_PRESETS).join(', ')})`);
    const preset = UNET_PRESETS[a.model];
    if (!preset) throw new Error(`sample: unknown --model '${a.model}'; valid presets: ${Object.keys(UNET_PRESETS).join(', ')}`);
    modelConfig = { ...preset, inChannels: a.channels, channelMults: [...preset.channelMults], attnLevels: [...preset.attnLevels] };
    imageShape = [a.channels, a.imageSize, a.imageSize];
  }
  // the condition: checked before anything is computed or written
  const conditioner = modelConfig.text ? (textState ? new TextConditioner(textState) : null) : modelConfig.numClasses ? new ClassConditioner(modelConfig.numClasses) : null;
  if (modelConfig.text && !textState) throw new Error(`sample: '${a.checkpoint}' is text-conditional but carries no vocabulary (a plain weights file cannot be text-conditional)`);
  const given = (['class', 'prompt', 'guidance'] as const).find((k) => a[k] !== undefined);
  if (!conditioner && given) {
    throw new Error(`sample: --${given}: '${a.checkpoint}' is an unconditional checkpoint (trained with --condition none), it takes no class, prompt or guidance`);
  }
  if (a.prompt !== undefined && !(conditioner instanceof TextConditioner)) {
    throw new Error(`sample: --prompt: '${a.checkpoint}' is class-conditional (trained with --condition class), it takes a class (--class), not a prompt`);
  }
  if (a.prompt !== undefined && a.class !== undefined) throw new Error('sample: give --class or --prompt, not both');
  const numClasses = conditioner?.numClasses ?? 0;
  const classes = a.class === undefined ? null : numberList('class', a.class, (v) => Number.isInteger(v) && v >= 0 && v < numClasses, `a class of this checkpoint (an integer in 0-${numClasses - 1}, or a comma list)`);
  const guidances = a.guidance === undefined ? [trainedGuidance] : numberList('guidance', a.guidance, (v) => Number.isFinite(v) && v >= 0, 'a number >= 0 (or a comma list of them)');
  const prompts = a.prompt === undefined ? null : String(a.prompt).split('|').map((p) => p.trim());
  // what each image is asked for: its group (a class, or a prompt's index) and its condition row
  const groups = prompts ? Int32Array.from({ length: a.n }, (_, i) => i % prompts.length)
    : classes ? Int32Array.from({ length: a.n }, (_, i) => classes[i % classes.length]) : balancedLabels(a.n, Math.max(numClasses, 1));
  let rows: Int32Array | null = null;
  try {
    rows = !conditioner ? null : prompts ? (conditioner as TextConditioner).forPrompts(Array.from(groups, (g) => prompts[g])) : conditioner.forClasses(groups);
  } catch (err) {
    throw new Error(`sample: --prompt: ${(err as Error).message}`);
  }
  // the asked class of each image, where known (a prompt that is one of the training captions names its class)
  const promptClasses = prompts ? prompts.map((p) => (conditioner as TextConditioner).classOfPrompt(p)) : null;
  const askedClasses = !conditioner ? null : !promptClasses ? groups : promptClasses.every((k) => k !== null) ? Int32Array.from(groups, (g) => promptClasses[g]!) : null;

  const model = createUNet(modelConfig);
  const { source } = loadModelWeights(a.checkpoint, model, { prefer: a.weights });
  model.eval();
  // a latent checkpoint: the UNet draws latents, its stored autoencoder decodes them into images
  let decoder: Autoencoder | null = null;
  if (latent) {
    decoder = new Autoencoder(latent.autoencoderConfig);
    loadCheckpointModule(a.checkpoint, 'autoencoder', decoder);
    decoder.eval();
  }
  // the two-stage sampler: the checkpoint draws small images, the upsampler enlarges them
  let upsampler: Upsampler | null = null;
  if (a.upsampler !== undefined) {
    if (latent) throw new Error(`sample: --upsampler: '${a.checkpoint}' is a latent checkpoint, decoded by its own autoencoder; the upsampler enlarges the images of a pixel checkpoint trained with --image-size`);
    upsampler = loadUpsampler(a.upsampler, 'sample: --upsampler').model;
    const sm = upsampler.config.smallSize;
    if (imageShape[0] !== upsampler.channels || imageShape[1] !== sm || imageShape[2] !== sm) {
      throw new Error(`sample: --upsampler: '${a.upsampler}' enlarges ${upsampler.channels}x${sm}x${sm} images, but '${a.checkpoint}' draws ${imageShape.join('x')}`);
    }
  }
  const [ic, ih, iw] = latent ? latent.imageShape : upsampler ? [upsampler.channels, upsampler.largeSize, upsampler.largeSize] : imageShape;
  const toImages = (x: Float32Array, n: number) => (decoder ? decodeLatents(decoder, latent!.scale, x, n) : upsampler ? upsampleImages(upsampler, x, n) : x);
  const schedule = new NoiseSchedule({ numTimesteps: timesteps, schedule: betaSchedule });
  const sampler = makeSampler(a.sampler, schedule, a.steps, a.eta);
  const out = a.out ?? path.join(path.dirname(a.checkpoint), 'sampled');
  const [c, h, w] = imageShape;
  log(`sampling ${a.n} ${latent ? `latents ${c}x${h}x${w} (decoded to images ${ic}x${ih}x${iw} by the autoencoder stored in the checkpoint)` : upsampler ? `images ${c}x${h}x${w} (enlarged to ${ic}x${ih}x${iw} by the upsampler ${a.upsampler})` : `images ${c}x${h}x${w}`} with ${sampler.name} (${sampler.timesteps.length} steps${a.sampler === 'ddim' ? `, eta ${a.eta}` : ''}) from the ${source} weights of ${a.checkpoint}` +
    (conditioner ? `; ${prompts ? `prompts ${prompts.map((p) => `"${p}"`).join(', ')}` : `classes ${classes ? classes.join(',') : `0-${numClasses - 1} in turn`}`}, guidance ${guidances.join(', ')}` : ''));

  const threads = a.workers === 'auto' ? autoWorkers(backend.name, Math.min(a.batchSize, a.n)) : a.workers;
  // the workers run the same backend
  const parallel = threads > 1 ? new DataParallel(threads, backend.name, model, schedule) : null;
  if (parallel) log(`  on ${threads} threads (each takes part of every batch)`);

  const k = conditioner?.length ?? 0; // condition ids per image
  // one set of images per guidance scale, each from the same seed (the same starting noises)
  const sets: { guidance: number | null; images: Float32Array; dir: string }[] = [];
  try {
    for (const guidance of conditioner ? guidances : [null]) {
      const dir = guidances.length > 1 ? path.join(out, `guidance_${guidance}`) : out;
      const started = Date.now();
      const generator = new Generator(a.seed);
      const parts = [];
      let firstRun = null;
      for (let done = 0; done < a.n; done += a.batchSize) {
        const size = Math.min(a.batchSize, a.n - done);
        const condition = rows && guidance !== null ? { labels: rows.slice(done * k, (done + size) * k), guidance } : undefined;
        const run = sampleWithSnapshots(samplerInput(model, parallel, schedule, prediction, condition), sampler, [size, c, h, w], generator);
        if (!firstRun) firstRun = { run, size };
        parts.push(run.samples);
        log(`  ${guidance === null ? '' : `guidance ${guidance}: `}${done + size}/${a.n} images (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      }
      const samples = (parts.length === 1 ? parts[0] : concat(parts, 0)).toArray();
      const stage1Seconds = (Date.now() - started) / 1000;
      const images = toImages(samples, a.n);
      if (upsampler) log(`  enlarged ${a.n} images to ${ih}x${iw} in ${((Date.now() - started) / 1000 - stage1Seconds).toFixed(1)} s (the diffusion stage took ${stage1Seconds.toFixed(1)} s)`);
      // a conditional grid has one column per class when the classes go in turn
      writeGridPng(path.join(dir, 'grid.png'), images, a.n, ic, ih, iw, { nrow: conditioner && !classes && !prompts ? numClasses : Math.ceil(Math.sqrt(a.n)) });
      writeSingleImages(path.join(dir, 'images'), images, a.n, ic, ih, iw);
      const first = firstRun!;
      if (upsampler) {
        // the reverse process at the small size, where it runs; stages.png: the small samples (copied up) above their enlargements
        writeReverseProcessPng(path.join(dir, 'reverse_process.png'), first.run, [first.size, c, h, w]);
        const m = Math.min(a.n, 8);
        const per = ic * ih * iw;
        const both = new Float32Array(2 * m * per);
        both.set(noGrad(() => upsampleNearest2d(tensor(samples.subarray(0, m * c * h * w), [m, c, h, w]), 2).clamp(-1, 1).toArray()), 0);
        both.set(images.subarray(0, m * per), m * per);
        writeGridPng(path.join(dir, 'stages.png'), both, 2 * m, ic, ih, iw, { nrow: m });
      } else {
        writeReverseProcessPng(path.join(dir, 'reverse_process.png'), { ...first.run, snapshots: first.run.snapshots.map((x) => toImages(x, first.size)) }, [first.size, ic, ih, iw]);
      }
      if (latent) {
        // the same process as the UNet saw it: the first latent channel, scaled latents of unit variance shown over [-3, 3]
        const per = c * h * w;
        const channel0 = (x: Float32Array) => Float32Array.from({ length: first.size * h * w }, (_, i) => x[Math.floor(i / (h * w)) * per + (i % (h * w))] / 3);
        writeReverseProcessPng(path.join(dir, 'reverse_process_latents.png'), { ...first.run, snapshots: first.run.snapshots.map(channel0) }, [first.size, 1, h, w]);
      }
      if (askedClasses) {
        const asked: SampleLabelsFile = { labels: Array.from(askedClasses), guidance: guidance!, ...(prompts ? { prompts: Array.from(groups, (g) => prompts[g]) } : {}) };
        fs.writeFileSync(path.join(dir, SAMPLE_LABELS_FILE), JSON.stringify(asked) + '\n');
      }
      log(`wrote ${path.join(dir, 'grid.png')}, ${a.n} PNGs in ${path.join(dir, 'images')}${askedClasses ? `, their classes in ${path.join(dir, SAMPLE_LABELS_FILE)}` : ''}, and ${path.join(dir, 'reverse_process.png')}${latent ? ` (and ${path.join(dir, 'reverse_process_latents.png')}: latent channel 0)` : ''}${upsampler ? ` (at ${h}x${w}; and ${path.join(dir, 'stages.png')}: the ${h}x${w} samples above their enlargements)` : ''}`);
      sets.push({ guidance, images, dir });
    }
  } finally {
    await parallel?.close();
  }
  if (conditioner && sets.length > 1) {
    const file = path.join(out, 'guidance_grid.png');
    writeGuidanceGrid(file, sets.map((st) => st.images), groups, [ic, ih, iw]); // the images: decoded (latent) or enlarged (two-stage)
    log(`wrote ${file}: one row per ${prompts ? 'prompt' : 'class'}, one block of columns per guidance scale (${guidances.join(', ')}), the same starting noise in each block`);
  }
}

/**
 * One row per asked class; in each row, for each guidance scale, the first (up to 8) images
 * of that class, blocks separated by a gray column.
 */
export function writeGuidanceGrid(file: string, sets: Float32Array[], labels: Int32Array, shape: number[], maxPerBlock = 8): void {
  const [c, h, w] = shape;
  const per = c * h * w;
  const classes = [...new Set(labels)].sort((x, y) => x - y);
  const byClass = classes.map((k) => labels.reduce<number[]>((acc, y, i) => (y === k ? [...acc, i] : acc), []));
  const m = Math.min(maxPerBlock, ...byClass.map((idx) => idx.length));
  const cols = sets.length * (m + 1) - 1;
  const tiles = new Float32Array(classes.length * cols * per); // 0 = the gray separator
  classes.forEach((_, r) => {
    sets.forEach((images, b) => {
      for (let j = 0; j < m; j++) {
        const i = byClass[r][j];
        tiles.set(images.subarray(i * per, (i + 1) * per), (r * cols + b * (m + 1) + j) * per);
      }
    });
  });
  writeGridPng(file, tiles, classes.length * cols, c, h, w, { nrow: cols });
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
  const image = toSignedPixels(getImage(ds, a.index));
  const ts = writeNoiseStripPng(a.out, schedule, image, ds.channels, ds.height, ds.width, a.columns, a.seed);
  log(`wrote ${a.out}: image ${a.index} of ${ds.name} at t = ${ts.join(', ')}`);
}
