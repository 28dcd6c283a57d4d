/**
 * Training the CLIP-style model (model.ts) on digits and the captions made from their labels,
 * and scoring images against prompts with it.
 *
 *   each step:  `groups` groups of one image per class, each image with a caption of its
 *               class drawn from the caption set; loss = mean over groups of the symmetric
 *               InfoNCE of the group; Adam, cosine learning-rate decay
 *   held out:   zero-shot accuracy (each image's nearest class caption) and the mean cosine
 *               of matched and of shuffled image-caption pairs
 */
import * as fs from 'fs';
import * as path from 'path';
import { noGrad } from '../autograd';
import { tensor } from '../creation';
import { readSafetensors } from '../checkpoint/safetensors';
import { loadModelWeights, saveModelWeights } from '../checkpoint/training';
import { DEFAULT_CLASSIFIER_CONFIG } from '../classifier/model';
import { toMinusOneOne } from '../classifier/predict';
import { shippedAssetPath } from '../classifier/weights';
import type { ImageDataset } from '../data/dataset';
import { Adam } from '../optim/adam';
import { lrSchedule } from '../optim/schedule';
import { Generator } from '../random';
import { concat } from '../ops/shape';
import { TextConditioner, type TextConditionState } from '../train/condition';
import { ClipModel, rowCosines, type ClipConfig } from './model';

export const CLIP_FORMAT = 'tiny-ddpm-clip';

export interface TrainClipOptions {
  steps?: number;
  /** groups of one image per class in each step */
  groups?: number;
  lr?: number;
  seed?: number;
  embedDim?: number;
  textDim?: number;
  textLayers?: number;
  textHeads?: number;
  testSet?: ImageDataset;
  log?: (line: string) => void;
  logEvery?: number;
}

/** Images of a dataset in [-1, 1], as a tensor [n, C, H, W] of the listed indices. */
function imagesOf(ds: ImageDataset, indices: ArrayLike<number>) {
  const per = ds.channels * ds.height * ds.width;
  const out = new Float32Array(indices.length * per);
  for (let i = 0; i < indices.length; i++) out.set(ds.images.subarray(indices[i] * per, (indices[i] + 1) * per), i * per);
  return tensor(toMinusOneOne(out), [indices.length, ds.channels, ds.height, ds.width]);
}

export interface ClipEvaluation {
  /** share of held-out images whose nearest class caption (the first of each class) is their class's */
  zeroShotAccuracy: number;
  /** mean cosine of each image with a caption of its own class */
  matched: number;
  /** the same with the captions shuffled among the images */
  shuffled: number;
}

/** The CLIP score of images against prompt rows: the cosine of each pair (images [n, C, H, W] in [-1, 1]). */
export function clipCosines(model: ClipModel, images: Float32Array, shape: number[], rows: Int32Array, batchSize = 100): Float32Array {
  const [n, c, h, w] = shape;
  const per = c * h * w;
  const len = rows.length / n;
  const out = new Float32Array(n);
  noGrad(() => {
    for (let s = 0; s < n; s += batchSize) {
      const e = Math.min(n, s + batchSize);
      const img = model.encodeImages(tensor(images.subarray(s * per, e * per), [e - s, c, h, w]));
      const txt = model.encodeTexts(rows.subarray(s * len, e * len));
      out.set(rowCosines(img, txt), s);
    }
  });
  return out;
}

export const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);

/** A permutation of 0..n-1 from a seed (Fisher-Yates), for the shuffled-prompt baseline. */
export function permutation(n: number, seed: number): Int32Array {
  const g = new Generator(seed);
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = g.randint(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** The n rows of `rows` (rows.length / n ids each) reordered by a seeded permutation: the shuffled-prompt baseline. */
export function shuffleRows(rows: Int32Array, n: number, seed: number): Int32Array {
  const len = rows.length / n;
  const out = new Int32Array(rows.length);
  permutation(n, seed).forEach((j, i) => out.set(rows.subarray(j * len, (j + 1) * len), i * len));
  return out;
}

export function evaluateClip(model: ClipModel, conditioner: TextConditioner, ds: ImageDataset, seed = 0): ClipEvaluation {
  const all = Int32Array.from({ length: ds.n }, (_, i) => i);
  const images = imagesOf(ds, all).toArray();
  const shape = [ds.n, ds.channels, ds.height, ds.width];
  const per = ds.channels * ds.height * ds.width;
  const classRows = conditioner.forClasses(Int32Array.from({ length: conditioner.numClasses }, (_, k) => k));
  let correct = 0;
  noGrad(() => {
    const txt = model.encodeTexts(classRows); // [K, E]
    for (let s = 0; s < ds.n; s += 200) {
      const e = Math.min(ds.n, s + 200);
      const sims = model.encodeImages(tensor(images.subarray(s * per, e * per), [e - s, ...shape.slice(1)])).matmul(txt.transpose(0, 1));
      const best = sims.argmax(1).toArray();
      for (let i = 0; i < best.length; i++) if (best[i] === ds.labels[s + i]) correct++;
    }
  });
  // matched: a caption of the image's class drawn per image; shuffled: the same captions permuted
  const rows = conditioner.training(ds.labels, 0, new Generator(seed));
  const shuffledRows = shuffleRows(rows, ds.n, seed + 1);
  return {
    zeroShotAccuracy: correct / ds.n,
    matched: mean(clipCosines(model, images, shape, rows)),
    shuffled: mean(clipCosines(model, images, shape, shuffledRows)),
  };
}

export function trainClip(ds: ImageDataset, opts: TrainClipOptions = {}): { model: ClipModel; conditioner: TextConditioner; seconds: number; evaluation: ClipEvaluation | null } {
  const steps = opts.steps ?? 600;
  const groups = opts.groups ?? 4;
  const lr = opts.lr ?? 2e-3;
  const seed = opts.seed ?? 0;
  const log = opts.log ?? (() => {});
  const logEvery = opts.logEvery ?? 50;
  for (const [name, v] of [['steps', steps], ['groups', groups]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new Error(`trainClip: ${name} must be a positive integer, got ${v}`);
  }
  if (!(lr > 0 && lr < 1)) throw new Error(`trainClip: lr must be in (0, 1), got ${lr}`);
  const conditioner = TextConditioner.forDataset(ds);
  const K = conditioner.numClasses;
  const byClass = Array.from({ length: K }, () => [] as number[]);
  for (let i = 0; i < ds.n; i++) byClass[ds.labels[i]].push(i);
  const empty = byClass.findIndex((idx) => idx.length === 0);
  if (empty >= 0) throw new Error(`trainClip: class ${empty} has no images in '${ds.name}'`);
  const config: ClipConfig = {
    image: { ...DEFAULT_CLASSIFIER_CONFIG, inChannels: ds.channels, imageSize: ds.height, numClasses: Math.max(K, 2) },
    text: { vocabSize: conditioner.tokenizer.size, maxLength: conditioner.length, dim: opts.textDim ?? 64, layers: opts.textLayers ?? 2, heads: opts.textHeads ?? 4 },
    embedDim: opts.embedDim ?? 32,
  };
  const model = new ClipModel(config, { generator: new Generator(seed) });
  // the trunk's classification head is not used: leave it out of the optimizer
  const params = model.namedParameters().filter(([n]) => !n.startsWith('image.head.'));
  const optimizer = new Adam(params, { lr });
  const lrAt = lrSchedule({ lr, warmupSteps: Math.min(50, steps - 1), decay: 'cosine', totalSteps: steps });
  const g = new Generator(seed + 1);
  log(`training a CLIP-style model (${model.numParameters().toLocaleString('en-US')} parameters) on ${ds.name}: ${steps} steps of ${groups} groups of ${K} (one image per class), ${conditioner.tokenizer.size - 3} caption words`);
  const started = Date.now();
  let smoothed = NaN;
  for (let step = 0; step < steps; step++) {
    optimizer.lr = lrAt(step);
    const indices: number[] = [];
    for (let q = 0; q < groups; q++) for (let k = 0; k < K; k++) indices.push(byClass[k][g.randint(byClass[k].length)]);
    const labels = Int32Array.from(indices, (i) => ds.labels[i]);
    const rows = conditioner.training(labels, 0, g);
    const img = model.encodeImages(imagesOf(ds, indices));
    const txt = model.encodeTexts(rows);
    const losses = Array.from({ length: groups }, (_, q) => model.contrastiveLoss(img.slice(0, q * K, (q + 1) * K), txt.slice(0, q * K, (q + 1) * K)).reshape([1]));
    const loss = concat(losses, 0).mean();
    const value = loss.item();
    if (!Number.isFinite(value)) throw new Error(`trainClip: the loss became ${value} at step ${step + 1}; try a lower lr`);
    optimizer.zeroGrad();
    loss.backward();
    optimizer.step();
    smoothed = Number.isNaN(smoothed) ? value : 0.95 * smoothed + 0.05 * value;
    if ((step + 1) % logEvery === 0) log(`  step ${step + 1}/${steps} loss ${smoothed.toFixed(4)} (chance: ${Math.log(K).toFixed(4)}), temperature ${(1 / Math.exp(model.logitScale.item())).toFixed(4)} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  model.eval();
  const evaluation = opts.testSet ? evaluateClip(model, conditioner, opts.testSet) : null;
  return { model, conditioner, seconds: (Date.now() - started) / 1000, evaluation };
}

export function saveClip(file: string, model: ClipModel, conditioner: TextConditioner, info: Record<string, string | number>): void {
  const metadata: Record<string, string> = { format: CLIP_FORMAT, config: JSON.stringify(model.config), text: JSON.stringify(conditioner.state()) };
  for (const [k, v] of Object.entries(info)) metadata[k] = String(v);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  saveModelWeights(file, model, metadata);
}

export function loadClip(file: string): { model: ClipModel; conditioner: TextConditioner; metadata: Record<string, string> } {
  if (!fs.existsSync(file)) throw new Error(`clip-score: no CLIP model at '${file}'`);
  const { metadata } = readSafetensors(file);
  if (metadata.format !== CLIP_FORMAT) throw new Error(`clip-score: '${file}' is not a CLIP model file (metadata format '${metadata.format}', expected '${CLIP_FORMAT}')`);
  const model = new ClipModel(JSON.parse(metadata.config) as ClipConfig);
  loadModelWeights(file, model);
  model.eval();
  return { model, conditioner: new TextConditioner(JSON.parse(metadata.text) as TextConditionState), metadata };
}

/** The shipped CLIP model of a dataset: assets/<dataset>-clip.safetensors, found like the classifier. */
export function shippedClipPath(dataset: string): string {
  return shippedAssetPath(dataset, 'clip');
}
