/**
 * Sample quality during training: every `evalEvery` steps the trainer draws a fixed-seed
 * batch of samples and this scores them (FID, recognized share, coverage; see
 * sample-quality.ts), prints one line beside the loss and appends a row to eval.csv:
 *
 *   step,fid,floor,recognized,classes_present,evenness,n,eval_seconds
 *
 * The same noise seed every time, so the curve shows the model changing, not the draw.
 * The real side is computed once: the first n held-out images of the dataset, and the
 * floor against the first n training images.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadDataset } from '../data';
import { subsetDataset, type ImageDataset } from '../data/dataset';
import type { SmallCnn } from '../classifier/model';
import { loadClassifier, shippedClassifierPath } from '../classifier/weights';
import { pct } from '../classifier/train';
import { evaluateSamples, realReference, type RealReference, type SampleQuality } from './sample-quality';

export const EVAL_CSV_HEADER = 'step,fid,floor,recognized,classes_present,evenness,n,eval_seconds';

export interface TrainingEvalOptions {
  outDir: string;
  /** the training data: a spec (its 'test' split is the real reference) or a dataset (its own images are) */
  dataset: string | ImageDataset;
  /** samples per evaluation (and real images on each side) */
  n: number;
  /** classifier weights; '' = the shipped one for the dataset spec */
  classifier: string;
  /** rows of an existing eval.csv after this step are dropped (a resumed run redoes them) */
  resumedStep: number;
}

export class TrainingEvaluator {
  readonly classifier: SmallCnn;
  readonly classifierFile: string;
  readonly reference: RealReference;
  readonly csv: string;
  readonly n: number;

  constructor(opts: TrainingEvalOptions) {
    const spec = typeof opts.dataset === 'string' ? opts.dataset : null;
    if (!spec && !opts.classifier) throw new Error(`train: --eval-every needs --eval-classifier when the dataset is not a named one`);
    this.classifierFile = opts.classifier || shippedClassifierPath(spec!);
    if (!fs.existsSync(this.classifierFile)) {
      throw new Error(`train: --eval-every: no classifier at '${this.classifierFile}'; train one with 'tiny-ddpm classifier --dataset ${spec ?? '<dataset>'}' or pass --eval-classifier`);
    }
    this.classifier = loadClassifier(this.classifierFile).model;
    this.n = opts.n;
    // The real side: held-out and training images of a named dataset; for a dataset given
    // as an object, its first n images, and the next n for the floor when it has them.
    let heldOut: ImageDataset;
    let second: ImageDataset | undefined;
    if (spec) {
      heldOut = loadDataset(spec, { split: 'test' });
      second = loadDataset(spec, { split: 'train', limit: opts.n });
    } else {
      const ds = opts.dataset as ImageDataset;
      heldOut = ds;
      if (ds.n >= 2 * opts.n) second = subsetDataset(ds, Array.from({ length: opts.n }, (_, i) => opts.n + i), `${ds.name}[${opts.n}..${2 * opts.n})`);
    }
    if (heldOut.n < opts.n) throw new Error(`train: --eval-samples ${opts.n} is more than the ${heldOut.n} real images of '${heldOut.name}' to compare with`);
    this.reference = realReference(this.classifier, heldOut, opts.n, second);

    this.csv = path.join(opts.outDir, 'eval.csv');
    const kept = fs.existsSync(this.csv)
      ? fs.readFileSync(this.csv, 'utf8').split('\n').slice(1).filter((l) => l.trim() && Number(l.split(',')[0]) <= opts.resumedStep)
      : [];
    fs.writeFileSync(this.csv, [EVAL_CSV_HEADER, ...kept].join('\n') + '\n');
  }

  /** Score `images` (n x C x H x W in [-1, 1], drawn at `step`), log a CSV row, and return the line to print. */
  evaluate(step: number, images: Float32Array, c: number, h: number, w: number, sampleSeconds = 0): { quality: SampleQuality; line: string } {
    const started = Date.now();
    const q = evaluateSamples(images, this.n, c, h, w, { classifier: this.classifier, reference: this.reference });
    const seconds = sampleSeconds + (Date.now() - started) / 1000;
    const floor = q.floor === null ? '' : q.floor.toFixed(4);
    fs.appendFileSync(this.csv, `${step},${q.fid.toFixed(4)},${floor},${q.recognized.toFixed(4)},${q.coverage.present.length},${q.coverage.evenness.toFixed(4)},${q.n},${seconds.toFixed(1)}\n`);
    const k = q.coverage.counts.length;
    const line = `step ${step}: FID ${q.fid.toFixed(2)} (real-vs-real floor ${q.floor === null ? '-' : q.floor.toFixed(2)}, N = ${q.n}), ` +
      `recognized ${pct(q.recognized)}, classes ${q.coverage.present.length}/${k}, evenness ${q.coverage.evenness.toFixed(3)} (${seconds.toFixed(0)} s)`;
    return { quality: q, line };
  }
}
