/**
 * Running a trained classifier over many images: features, class probabilities, accuracy.
 * Everything runs in evaluation mode, without a graph, a batch at a time inside tidy(), so
 * thousands of images go through without holding more than one batch of activations.
 */
import { noGrad } from '../autograd';
import { fromArray } from '../creation';
import type { ImageDataset } from '../data/dataset';
import { tidy } from '../tensor';
import type { SmallCnn } from './model';

export interface ClassifierOutputs {
  /** n * featureDim penultimate activations, one row per image */
  features: Float32Array;
  /** n * numClasses softmax probabilities, one row per image */
  probs: Float32Array;
  n: number;
  featureDim: number;
  numClasses: number;
}

/**
 * Features and class probabilities of n images [n, C, H, W] with values in [-1, 1]
 * (the classifier's input range; see model.ts).
 */
export function classify(model: SmallCnn, images: Float32Array, n: number, opts: { batchSize?: number } = {}): ClassifierOutputs {
  const { inChannels: c, imageSize: s, featureDim, numClasses } = model.config;
  const per = c * s * s;
  if (images.length !== n * per) {
    throw new Error(`classify: expected ${n}x${c}x${s}x${s} = ${n * per} values for the classifier's input, got ${images.length}`);
  }
  const batchSize = opts.batchSize ?? 250;
  const features = new Float32Array(n * featureDim);
  const probs = new Float32Array(n * numClasses);
  const wasTraining = model.training;
  model.eval();
  try {
    noGrad(() => {
      for (let start = 0; start < n; start += batchSize) {
        const b = Math.min(batchSize, n - start);
        tidy(() => {
          const x = fromArray(images.slice(start * per, (start + b) * per), [b, c, s, s]);
          const f = model.features(x); // [b, featureDim]
          const p = model.head.forward(f).softmax(1); // [b, numClasses]
          features.set(f.toArray(), start * featureDim);
          probs.set(p.toArray(), start * numClasses);
        });
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return { features, probs, n, featureDim, numClasses };
}

/** Index of the largest probability in each row of an n x k matrix. */
export function argmaxRows(probs: Float32Array, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (probs[i * k + j] > probs[i * k + best]) best = j;
    out[i] = best;
  }
  return out;
}

/** A dataset's [0, 1] pixels mapped to the classifier's [-1, 1] (the DataLoader's x*2-1). */
export function toMinusOneOne(pixels: Float32Array): Float32Array {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] * 2 - 1;
  return out;
}

export interface AccuracyResult {
  /** correct / n */
  accuracy: number;
  correct: number;
  n: number;
  /** perClass[k] = accuracy on the images labelled k (NaN when there are none) */
  perClass: number[];
}

/** Share of the dataset's images whose most probable class is their label. */
export function evaluateAccuracy(model: SmallCnn, dataset: ImageDataset, opts: { batchSize?: number } = {}): AccuracyResult {
  if (dataset.numClasses !== model.config.numClasses) {
    throw new Error(`evaluateAccuracy: dataset '${dataset.name}' has ${dataset.numClasses} classes, the classifier ${model.config.numClasses}`);
  }
  const { probs } = classify(model, toMinusOneOne(dataset.images), dataset.n, opts);
  const predicted = argmaxRows(probs, dataset.n, dataset.numClasses);
  const hits = new Array<number>(dataset.numClasses).fill(0);
  const totals = new Array<number>(dataset.numClasses).fill(0);
  let correct = 0;
  for (let i = 0; i < dataset.n; i++) {
    const y = dataset.labels[i];
    totals[y]++;
    if (predicted[i] === y) {
      hits[y]++;
      correct++;
    }
  }
  return { accuracy: correct / dataset.n, correct, n: dataset.n, perClass: hits.map((h, k) => (totals[k] ? h / totals[k] : NaN)) };
}
