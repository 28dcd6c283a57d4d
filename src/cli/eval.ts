/**
 * The bodies of `tiny-ddpm eval` (score a folder of samples) and `tiny-ddpm classifier`
 * (train the classifier that eval measures with).
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadDataset } from '../data';
import { trainClassifier, pct } from '../classifier/train';
import { evaluateAccuracy } from '../classifier/predict';
import { loadClassifier, readClassifierInfo, saveClassifier, shippedClassifierPath } from '../classifier/weights';
import { readPngFolder } from '../metrics/png-folder';
import { evaluateSamples, realReference, RECOGNIZED_THRESHOLD, type SampleQuality, type RealReference } from '../metrics/sample-quality';

export interface EvalArgs {
  samples: string;
  dataset: string;
  /** default: the shipped classifier of the dataset */
  classifier?: string;
  /** images on each side; default min(number of PNGs, held-out images) */
  n?: number;
  json: boolean;
  /** the asked class of each sample (a labels.json that `sample` writes); default: <samples>/../labels.json when it exists */
  labels?: string;
}

/** What `sample` writes beside its images folder for a class-conditional checkpoint. */
export interface SampleLabelsFile {
  /** the class asked for, one per image, in the order of the image files */
  labels: number[];
  guidance: number;
  /** text-conditional samples: the prompt of each image */
  prompts?: string[];
}

export const SAMPLE_LABELS_FILE = 'labels.json';

/** The asked classes of a sample folder: from `file`, or the labels.json beside the folder, or null. */
export function readSampleLabels(samplesDir: string, file: string | undefined, count: number): SampleLabelsFile | null {
  const where = file ?? path.join(path.dirname(path.resolve(samplesDir)), SAMPLE_LABELS_FILE);
  if (!fs.existsSync(where)) {
    if (file) throw new Error(`eval: --labels: no file '${file}'`);
    return null;
  }
  let parsed: SampleLabelsFile;
  try {
    parsed = JSON.parse(fs.readFileSync(where, 'utf8'));
  } catch (err) {
    throw new Error(`eval: '${where}' is not JSON: ${(err as Error).message}`);
  }
  if (!parsed || !Array.isArray(parsed.labels)) throw new Error(`eval: '${where}' has no "labels" list`);
  if (parsed.labels.length < count) throw new Error(`eval: '${where}' lists ${parsed.labels.length} asked classes for ${count} samples`);
  return { ...parsed, labels: parsed.labels.slice(0, count) };
}

export interface EvalReport {
  samples: string;
  dataset: string;
  classifier: { file: string; metadata: Record<string, string> };
  threshold: number;
  quality: SampleQuality;
  /** where the real images came from: the held-out set the samples are compared with, and the floor's second set */
  real: { heldOut: string; second: string | null; recognized: number; coverage: RealReference['coverage'] };
}

export function evalCommand(a: EvalArgs, log: (s: string) => void, print: (s: string) => void = (s) => process.stdout.write(s + '\n'), startBackend: () => void = () => {}): EvalReport {
  if (a.n !== undefined && !(Number.isInteger(a.n) && a.n >= 2)) throw new Error(`eval: --n must be an integer >= 2, got ${a.n}`);
  const classifierFile = a.classifier ?? shippedClassifierPath(a.dataset);
  // cheap checks first: the folder and the classifier file, before any data or backend
  const { config, metadata } = readClassifierInfo(classifierFile);
  const { inChannels, imageSize, featureDim, numClasses } = config;
  const folder = readPngFolder(a.samples, { channels: inChannels, size: imageSize }, a.n);
  if (a.n !== undefined && folder.available < a.n) throw new Error(`eval: --n ${a.n} asks for more samples than the ${folder.available} PNGs in '${a.samples}'`);
  if (metadata.dataset && metadata.dataset !== a.dataset) {
    log(`eval: warning: the classifier was trained on '${metadata.dataset}', the real images come from '${a.dataset}'`);
  }

  // The held-out split is what the samples are compared with: neither the DDPM nor the
  // classifier trained on it. The floor compares it with the first n training images: a
  // second real set, disjoint from the first, as large as it (the bundled MNIST holds out
  // only 1,000 digits, too few to split in two at n = 1,000). That the classifier trained
  // on those training images barely shows: with the shipped classifier at n = 500,
  // test[0:500] vs test[500:1000] gives 11.2 and test[0:500] vs train[0:500] 12.1, while
  // two training slices differ by 16.0; at n = 1,000, five training slices give 4.3 to 6.5.
  const heldOut = loadDataset(a.dataset, { split: 'test' });
  const n = folder.n;
  if (n > heldOut.n) throw new Error(`eval: ${n} samples, but '${heldOut.name}' has only ${heldOut.n} held-out images to compare with; pass --n ${heldOut.n} or fewer`);
  if (n < 2) throw new Error(`eval: need at least 2 samples for a covariance; '${a.samples}' has ${n} PNG`);
  const second = loadDataset(a.dataset, { split: 'train', limit: n });
  const asked = readSampleLabels(a.samples, a.labels, n);
  startBackend();
  const { model } = loadClassifier(classifierFile); // on the backend just started
  log(`eval: ${n} samples from ${a.samples} vs ${n} real images of ${heldOut.name}; classifier ${classifierFile}`);
  const reference = realReference(model, heldOut, n, second);
  const quality = evaluateSamples(folder.images, n, inChannels, imageSize, imageSize, { classifier: model, reference, askedLabels: asked?.labels });
  const report: EvalReport = {
    samples: a.samples, dataset: a.dataset, classifier: { file: classifierFile, metadata }, threshold: RECOGNIZED_THRESHOLD, quality,
    real: { heldOut: reference.heldOutName, second: reference.floorName, recognized: reference.recognized, coverage: reference.coverage },
  };
  print(a.json ? JSON.stringify(report, null, 2) : formatReport(report, featureDim, numClasses));
  return report;
}

/** The small table eval prints. */
export function formatReport(r: EvalReport, featureDim: number, numClasses: number): string {
  const q = r.quality;
  const acc = r.classifier.metadata.testAccuracy ? `, held-out accuracy ${pct(Number(r.classifier.metadata.testAccuracy))}` : '';
  const row = (label: string, s: string, real: string) => `  ${label.padEnd(32)}${s.padStart(10)}${real.padStart(12)}`;
  const lines = [
    `samples:    ${r.samples} (${q.n} images)`,
    `real:       ${q.referenceN} images of ${r.real.heldOut}; floor: against the first ${q.referenceN} of ${r.real.second}`,
    `classifier: ${r.classifier.file} (${featureDim}-d features${acc})`,
    '',
    row('', 'samples', 'real'),
    row(`FID (N = ${q.n})`, q.fid.toFixed(2), q.floor === null ? '-' : q.floor.toFixed(2)),
    row(`recognized (max p > ${r.threshold})`, pct(q.recognized), pct(r.real.recognized)),
    row('classes present', `${q.coverage.present.length}/${numClasses}`, `${r.real.coverage.present.length}/${numClasses}`),
    row(`evenness (entropy / log ${numClasses})`, q.coverage.evenness.toFixed(3), r.real.coverage.evenness.toFixed(3)),
    '',
    `  ${'class'.padEnd(10)}${q.coverage.counts.map((_, k) => String(k).padStart(6)).join('')}`,
    `  ${'samples'.padEnd(10)}${q.coverage.counts.map((c) => String(c).padStart(6)).join('')}`,
    `  ${'real'.padEnd(10)}${r.real.coverage.counts.map((c) => String(c).padStart(6)).join('')}`,
    ...(q.asked
      ? [
          '',
          `  asked-class accuracy: ${pct(q.asked.accuracy)} (the classifier's class is the one each sample was asked for)`,
          `  ${'asked'.padEnd(10)}${q.asked.perClass.map((p) => (p === null ? '-' : (100 * p).toFixed(0) + '%').padStart(6)).join('')}`,
        ]
      : []),
    '',
    `The real column's FID is the floor: two disjoint sets of ${q.referenceN} real images. A perfect generator scores about the floor, not 0.`,
  ];
  return lines.join('\n');
}

export interface ClassifierArgs {
  dataset: string;
  out?: string;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  limit: number;
  backend: string;
}

export function classifierCommand(a: ClassifierArgs, log: (s: string) => void, startBackend: () => string = () => 'ref'): { file: string; accuracy: number } {
  const posInt = (name: string, v: number, min = 1) => {
    if (!(Number.isInteger(v) && v >= min)) throw new Error(`classifier: --${name} must be an integer >= ${min}, got ${v}`);
  };
  posInt('epochs', a.epochs);
  posInt('batch-size', a.batchSize);
  posInt('limit', a.limit, 0);
  if (!(a.lr > 0 && a.lr < 1)) throw new Error(`classifier: --lr must be in (0, 1), got ${a.lr}`);
  const out = a.out ?? path.join('assets', `${a.dataset.split(':')[0]}-classifier.safetensors`);
  const train = loadDataset(a.dataset, { split: 'train', limit: a.limit || undefined });
  const test = loadDataset(a.dataset, { split: 'test' });
  const backend = startBackend();
  const command = `tiny-ddpm classifier --dataset ${a.dataset} --epochs ${a.epochs} --batch-size ${a.batchSize} --lr ${a.lr} --seed ${a.seed}` +
    `${a.limit ? ` --limit ${a.limit}` : ''} --backend ${a.backend} --out ${out}`;
  const r = trainClassifier(train, { epochs: a.epochs, batchSize: a.batchSize, lr: a.lr, seed: a.seed, testSet: test, log });
  const { accuracy, perClass } = evaluateAccuracy(r.model, test);
  saveClassifier(out, r.model, {
    dataset: a.dataset, split: 'train', trainImages: train.n, testAccuracy: accuracy, testImages: test.n,
    epochs: a.epochs, seed: a.seed, command, seconds: Math.round(r.seconds), backend,
  });
  log(`held-out accuracy ${pct(accuracy)} on ${test.n} images of ${test.name}; per class: ${perClass.map((p, k) => `${k}: ${pct(p)}`).join(', ')}`);
  log(`wrote ${out} (${r.model.numParameters().toLocaleString('en-US')} parameters) after ${r.seconds.toFixed(0)} s`);
  return { file: out, accuracy };
}
