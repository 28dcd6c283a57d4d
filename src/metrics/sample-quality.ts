/**
 * How good are generated images? Three numbers from one classifier trained on the real data
 * (src/classifier/), all computed from its outputs on the samples:
 *
 *   FID          Fréchet distance between Gaussians fitted to the classifier's penultimate
 *                features of the samples and of N held-out real images (Heusel et al. 2017,
 *                with our SmallCnn in place of Inception; see fid.ts). Lower is better.
 *   floor        the same distance between two disjoint sets of N real images. FID is
 *                biased upwards at finite N (each covariance is estimated from N samples),
 *                so even a perfect generator scores about the floor, not 0: a FID means
 *                something only next to the floor at the same N.
 *   recognized   the share of samples whose most probable class has probability > 0.9: how
 *                often a sample looks clearly like one digit (the idea behind the Inception
 *                Score of Salimans et al. 2016, read as a share instead of a KL divergence).
 *   coverage     how many samples the classifier puts in each class, and the evenness of
 *                that histogram: its entropy divided by log(numClasses), 1 when every class
 *                is equally common, 0 when all samples fall in one class (mode collapse).
 *   asked        for samples drawn with a class asked for (class-conditional models): the
 *                share whose most probable class is the asked one, overall and per class.
 *
 * Scores are comparable only with the same classifier file and the same N.
 */
import type { ImageDataset } from '../data/dataset';
import { SmallCnn } from '../classifier/model';
import { argmaxRows, classify, toMinusOneOne } from '../classifier/predict';
import { featureStats, frechetDistance, type FeatureStats } from './fid';

/** A sample counts as recognized when its top class probability exceeds this. */
export const RECOGNIZED_THRESHOLD = 0.9;

export interface ClassCoverage {
  /** counts[k] = how many samples the classifier assigns to class k (argmax) */
  counts: number[];
  /** the classes with at least one sample */
  present: number[];
  /** entropy of counts / log(numClasses), in [0, 1] */
  evenness: number;
}

/** Coverage of a set of predicted classes (each in [0, numClasses)). */
export function classCoverage(predicted: ArrayLike<number>, numClasses: number): ClassCoverage {
  if (!(Number.isInteger(numClasses) && numClasses >= 2)) throw new Error(`classCoverage: numClasses must be an integer >= 2, got ${numClasses}`);
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < predicted.length; i++) {
    const k = predicted[i];
    if (!(Number.isInteger(k) && k >= 0 && k < numClasses)) throw new Error(`classCoverage: class ${k} of sample ${i} is outside [0, ${numClasses})`);
    counts[k]++;
  }
  return { counts, present: counts.flatMap((c, k) => (c > 0 ? [k] : [])), evenness: normalizedEntropy(counts) };
}

/**
 * H(p) / log(K) for the histogram p = counts / sum(counts) over K bins, with 0 log 0 = 0:
 * 1 for a flat histogram, 0 when everything is in one bin (and for an empty histogram).
 */
export function normalizedEntropy(counts: ArrayLike<number>): number {
  let total = 0;
  for (let k = 0; k < counts.length; k++) total += counts[k];
  if (total === 0 || counts.length < 2) return 0;
  let h = 0;
  for (let k = 0; k < counts.length; k++) {
    if (counts[k] > 0) {
      const p = counts[k] / total;
      h -= p * Math.log(p);
    }
  }
  return h / Math.log(counts.length);
}

/** Share of the n rows of an n x k probability matrix whose largest entry exceeds `threshold`. */
export function recognizedShare(probs: Float32Array, n: number, k: number, threshold = RECOGNIZED_THRESHOLD): number {
  if (probs.length !== n * k) throw new Error(`recognizedShare: expected ${n}x${k} = ${n * k} probabilities, got ${probs.length}`);
  if (n === 0) return 0;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    let max = 0;
    for (let j = 0; j < k; j++) max = Math.max(max, probs[i * k + j]);
    if (max > threshold) hits++;
  }
  return hits / n;
}

/** The real side of the comparison, computed once and reused for every evaluation. */
export interface RealReference {
  /** features of the held-out real images the samples are compared with */
  stats: FeatureStats;
  /** FID between those and a second, disjoint real set of the same size (null when none was given) */
  floor: number | null;
  /** where the two real sets came from, e.g. 'mnist-bundled/test' and 'mnist-bundled/train' */
  heldOutName: string;
  floorName: string | null;
  /** the recognized share and coverage of the held-out real images, for comparison */
  recognized: number;
  coverage: ClassCoverage;
}

function checkFits(classifier: SmallCnn, c: number, h: number, w: number, what: string): void {
  const { inChannels, imageSize } = classifier.config;
  if (c !== inChannels || h !== imageSize || w !== imageSize) {
    throw new Error(`${what} are ${c}x${h}x${w} (channels x height x width), but the classifier takes ${inChannels}x${imageSize}x${imageSize}`);
  }
}

/** The first n images of a dataset, in [-1, 1]. */
function firstImages(ds: ImageDataset, n: number): Float32Array {
  const per = ds.channels * ds.height * ds.width;
  return toMinusOneOne(ds.images.subarray(0, n * per));
}

/**
 * Statistics of the first `n` images of `heldOut` (the real images that samples are compared
 * with) and, when `second` is given, the floor: FID between them and the first `n` images
 * of `second`, which must not share images with `heldOut`.
 */
export function realReference(classifier: SmallCnn, heldOut: ImageDataset, n: number, second?: ImageDataset): RealReference {
  checkFits(classifier, heldOut.channels, heldOut.height, heldOut.width, `the real images of '${heldOut.name}'`);
  if (!(Number.isInteger(n) && n >= 2)) throw new Error(`realReference: n must be an integer >= 2, got ${n}`);
  if (n > heldOut.n) throw new Error(`realReference: asked for ${n} real images, but '${heldOut.name}' has only ${heldOut.n}`);
  const real = classify(classifier, firstImages(heldOut, n), n);
  const stats = featureStats(real.features, n, real.featureDim);
  let floor: number | null = null;
  if (second) {
    checkFits(classifier, second.channels, second.height, second.width, `the real images of '${second.name}'`);
    if (n > second.n) throw new Error(`realReference: asked for ${n} real images, but '${second.name}' has only ${second.n}`);
    const other = classify(classifier, firstImages(second, n), n);
    floor = frechetDistance(stats, featureStats(other.features, n, other.featureDim));
  }
  return {
    stats, floor, heldOutName: heldOut.name, floorName: second?.name ?? null,
    recognized: recognizedShare(real.probs, n, real.numClasses),
    coverage: classCoverage(argmaxRows(real.probs, n, real.numClasses), real.numClasses),
  };
}

export interface SampleQuality {
  /** number of samples evaluated */
  n: number;
  /** FID of the samples against the reference's held-out real images */
  fid: number;
  /** the reference's real-vs-real FID at its N (null when it has none) */
  floor: number | null;
  /** how many real images the reference holds */
  referenceN: number;
  /** share of samples with max softmax > threshold */
  recognized: number;
  coverage: ClassCoverage;
  /** with askedLabels: the share of samples classified as the class asked for, overall and per asked class (null where none was asked) */
  asked?: { accuracy: number; perClass: (number | null)[] };
}

/** The share of samples whose predicted class is the asked one, overall and per asked class. */
export function askedClassAccuracy(predicted: ArrayLike<number>, asked: ArrayLike<number>, numClasses: number): { accuracy: number; perClass: (number | null)[] } {
  if (predicted.length !== asked.length) throw new Error(`askedClassAccuracy: ${asked.length} asked classes for ${predicted.length} samples`);
  const hits = new Array<number>(numClasses).fill(0);
  const total = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < asked.length; i++) {
    const y = asked[i];
    if (!(Number.isInteger(y) && y >= 0 && y < numClasses)) throw new Error(`askedClassAccuracy: asked class ${y} of sample ${i} is outside [0, ${numClasses})`);
    total[y]++;
    if (predicted[i] === y) hits[y]++;
  }
  const all = hits.reduce((a, b) => a + b, 0);
  return { accuracy: asked.length ? all / asked.length : 0, perClass: total.map((t, k) => (t ? hits[k] / t : null)) };
}

export interface EvaluateSamplesOptions {
  classifier: SmallCnn;
  /** the real side: a prepared reference (reuse it across calls), or held-out real images (their first n are used) */
  reference: RealReference | ImageDataset;
  /** max softmax above which a sample counts as recognized (default 0.9) */
  threshold?: number;
  /** the class each sample was asked for (class-conditional samples), to score asked-class accuracy */
  askedLabels?: ArrayLike<number>;
}

/**
 * Scores n generated images [n, C, H, W] with values in [-1, 1] (what the samplers return;
 * values outside are clamped, as writing them to PNG would). See the top of this file.
 */
export function evaluateSamples(images: Float32Array, n: number, c: number, h: number, w: number, opts: EvaluateSamplesOptions): SampleQuality {
  const { classifier } = opts;
  checkFits(classifier, c, h, w, 'the samples');
  if (!(Number.isInteger(n) && n >= 2)) throw new Error(`evaluateSamples: need at least 2 samples for a covariance, got ${n}`);
  if (images.length !== n * c * h * w) throw new Error(`evaluateSamples: expected ${n}x${c}x${h}x${w} = ${n * c * h * w} values, got ${images.length}`);
  const reference = 'stats' in opts.reference ? opts.reference : realReference(classifier, opts.reference, Math.min(n, opts.reference.n));
  const clamped = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) {
    const v = images[i];
    if (Number.isNaN(v)) throw new Error(`evaluateSamples: value ${i} (sample ${Math.floor(i / (c * h * w))}) is NaN`);
    clamped[i] = v < -1 ? -1 : v > 1 ? 1 : v;
  }
  const out = classify(classifier, clamped, n);
  const fid = frechetDistance(featureStats(out.features, n, out.featureDim), reference.stats);
  const predicted = argmaxRows(out.probs, n, out.numClasses);
  return {
    n,
    fid,
    floor: reference.floor,
    referenceN: reference.stats.count,
    recognized: recognizedShare(out.probs, n, out.numClasses, opts.threshold ?? RECOGNIZED_THRESHOLD),
    coverage: classCoverage(predicted, out.numClasses),
    ...(opts.askedLabels ? { asked: askedClassAccuracy(predicted, opts.askedLabels, out.numClasses) } : {}),
  };
}
