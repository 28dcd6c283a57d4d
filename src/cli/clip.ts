/**
 * The bodies of `tiny-ddpm clip` (train the CLIP-style model, src/clip/) and
 * `tiny-ddpm clip-score` (score images against prompts with it).
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadDataset } from '../data';
import { pct } from '../classifier/train';
import { clipCosines, evaluateClip, loadClip, mean, saveClip, shippedClipPath, shuffleRows, trainClip } from '../clip/train';
import { readPngFolder } from '../metrics/png-folder';
import { readSampleLabels } from './eval';

export interface ClipArgs {
  dataset: string;
  out?: string;
  steps: number;
  groups: number;
  lr: number;
  seed: number;
  limit: number;
}

export function clipCommand(a: ClipArgs, log: (s: string) => void, startBackend: () => string = () => 'ref'): { file: string } {
  for (const [name, v, min] of [['steps', a.steps, 1], ['groups', a.groups, 1], ['limit', a.limit, 0], ['seed', a.seed, 0]] as const) {
    if (!(Number.isInteger(v) && v >= min)) throw new Error(`clip: --${name} must be an integer >= ${min}, got ${v}`);
  }
  if (!(a.lr > 0 && a.lr < 1)) throw new Error(`clip: --lr must be in (0, 1), got ${a.lr}`);
  const out = a.out ?? path.join('assets', `${a.dataset.split(':')[0]}-clip.safetensors`);
  const train = loadDataset(a.dataset, { split: 'train', limit: a.limit || undefined });
  const test = loadDataset(a.dataset, { split: 'test' });
  const backend = startBackend();
  const command = `tiny-ddpm clip --dataset ${a.dataset} --steps ${a.steps} --groups ${a.groups} --lr ${a.lr} --seed ${a.seed}${a.limit ? ` --limit ${a.limit}` : ''} --out ${out}`;
  const r = trainClip(train, { steps: a.steps, groups: a.groups, lr: a.lr, seed: a.seed, testSet: test, log });
  const e = r.evaluation!;
  saveClip(out, r.model, r.conditioner, {
    dataset: a.dataset, trainImages: train.n, testImages: test.n, zeroShotAccuracy: e.zeroShotAccuracy, matched: e.matched, shuffled: e.shuffled,
    steps: a.steps, seed: a.seed, command, seconds: Math.round(r.seconds), backend,
  });
  log(`held out (${test.n} images of ${test.name}): zero-shot accuracy ${pct(e.zeroShotAccuracy)} (each image's nearest class caption), ` +
    `mean cosine with a caption of its class ${e.matched.toFixed(3)}, with the captions shuffled ${e.shuffled.toFixed(3)}`);
  log(`wrote ${out} (${r.model.numParameters().toLocaleString('en-US')} parameters) after ${r.seconds.toFixed(0)} s`);
  return { file: out };
}

export interface ClipScoreArgs {
  samples?: string;
  /** score the dataset's held-out real images with captions of their own classes instead */
  real: boolean;
  prompt?: string;
  /** a text file with one prompt per line, one line per image in file order */
  prompts?: string;
  clip?: string;
  dataset: string;
  seed: number;
  json: boolean;
}

export interface ClipScoreReport {
  images: string;
  n: number;
  prompts: string;
  /** mean cosine of each image with its prompt */
  score: number;
  /** the same with the prompts shuffled among the images (seeded) */
  shuffled: number;
  clip: string;
}

export function clipScoreCommand(a: ClipScoreArgs, log: (s: string) => void, print: (s: string) => void = (s) => process.stdout.write(s + '\n'), startBackend: () => void = () => {}): ClipScoreReport {
  const file = a.clip ?? shippedClipPath(a.dataset);
  if (!a.real && !a.samples) throw new Error('clip-score: give --samples <folder of PNGs> or --real');
  if (a.real && a.samples) throw new Error('clip-score: give --samples or --real, not both');
  if (a.prompt !== undefined && a.prompts !== undefined) throw new Error('clip-score: give --prompt or --prompts, not both');
  if (a.prompts !== undefined && !fs.existsSync(a.prompts)) throw new Error(`clip-score: --prompts: no file '${a.prompts}'`);
  if (!fs.existsSync(file)) throw new Error(`clip-score: no CLIP model at '${file}' (train one with tiny-ddpm clip)`);
  startBackend();
  const { model, conditioner } = loadClip(file);
  const { inChannels: c, imageSize: size } = model.config.image;
  let images: Float32Array;
  let n: number;
  let rows: Int32Array;
  let where: string;
  let source: string;
  if (a.real) {
    const test = loadDataset(a.dataset, { split: 'test' });
    const e = evaluateClip(model, conditioner, test, a.seed);
    const report = { images: test.name, n: test.n, prompts: 'a caption of each image\'s class', score: e.matched, shuffled: e.shuffled, clip: file };
    print(a.json ? JSON.stringify(report, null, 2) : format(report));
    return report;
  }
  const folder = readPngFolder(a.samples!, { channels: c, size });
  images = folder.images;
  n = folder.n;
  where = a.samples!;
  const encode = (texts: string[]) => {
    try {
      return conditioner.forPrompts(texts);
    } catch (err) {
      throw new Error(`clip-score: ${(err as Error).message}`);
    }
  };
  if (a.prompt !== undefined) {
    rows = encode(new Array(n).fill(a.prompt));
    source = `"${a.prompt}" for every image`;
  } else if (a.prompts !== undefined) {
    const lines = fs.readFileSync(a.prompts, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '');
    if (lines.length < n) throw new Error(`clip-score: --prompts '${a.prompts}' has ${lines.length} prompts for ${n} images`);
    rows = encode(lines.slice(0, n));
    source = `one per image from ${a.prompts}`;
  } else {
    const asked = readSampleLabels(a.samples!, undefined, n);
    if (!asked) throw new Error(`clip-score: no prompts: give --prompt or --prompts, or sample into a folder that has labels.json beside '${a.samples}'`);
    if (asked.prompts) {
      rows = encode(asked.prompts.slice(0, n));
      source = 'the prompts in labels.json';
    } else {
      rows = conditioner.forClasses(Int32Array.from(asked.labels));
      source = 'each asked class\'s first caption (labels.json)';
    }
  }
  const shuffledRows = shuffleRows(rows, n, a.seed + 1);
  const shape = [n, c, size, size];
  const report = { images: where, n, prompts: source, score: mean(clipCosines(model, images, shape, rows)), shuffled: mean(clipCosines(model, images, shape, shuffledRows)), clip: file };
  log(`clip-score: ${n} images from ${where}; CLIP model ${file}`);
  print(a.json ? JSON.stringify(report, null, 2) : format(report));
  return report;
}

function format(r: ClipScoreReport): string {
  return [
    `images:   ${r.images} (${r.n})`,
    `prompts:  ${r.prompts}`,
    `  CLIP score (mean cosine of each image and its prompt)   ${r.score.toFixed(4)}`,
    `  the same with the prompts shuffled among the images     ${r.shuffled.toFixed(4)}`,
    'Cosines lie in [-1, 1]; only the gap between the two lines says the images match their prompts.',
  ].join('\n');
}
