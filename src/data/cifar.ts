/**
 * Reader for the binary version of CIFAR-10 (https://www.cs.toronto.edu/~kriz/cifar.html,
 * `cifar-10-binary.tar.gz`, which unpacks to a folder `cifar-10-batches-bin/`).
 *
 * Each batch file is a plain run of 3073-byte records, no header:
 *   1 byte      the label, 0..9
 *   1024 bytes  the red plane, 32x32 row-major
 *   1024 bytes  green
 *   1024 bytes  blue
 * That is already channels-first [C, H, W] order, so a record's 3072 pixel bytes copy
 * straight into our [N, 3, 32, 32] layout. Training batches are data_batch_1.bin ..
 * data_batch_5.bin (10,000 records each), the test batch is test_batch.bin.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DatasetError, CIFAR10_CLASS_NAMES, DatasetSplit, DATASET_SPLITS, ImageDataset, bytesToUnit, concatDatasets, takeFirst, validateDataset } from './dataset';

const CHANNELS = 3;
const SIDE = 32;
export const CIFAR10_PIXEL_BYTES = CHANNELS * SIDE * SIDE; // 3072
export const CIFAR10_RECORD_BYTES = 1 + CIFAR10_PIXEL_BYTES; // 3073

export const CIFAR10_TRAIN_FILES: readonly string[] = [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`);
export const CIFAR10_TEST_FILES: readonly string[] = ['test_batch.bin'];

/** Parses one batch file's bytes (already in memory); `file` is only used in messages. */
export function parseCifarBatch(bytes: Uint8Array, file: string): ImageDataset {
  if (bytes.length === 0 || bytes.length % CIFAR10_RECORD_BYTES !== 0) {
    const hint = bytes.length % 3074 === 0 && bytes.length > 0 ? ' (3074-byte records are CIFAR-100, which has two label bytes)' : '';
    throw new DatasetError(
      `CIFAR-10 batch ${file}: ${bytes.length} bytes is not a positive multiple of the ${CIFAR10_RECORD_BYTES}-byte record ` +
        `(1 label byte + 3x32x32 pixel bytes)${hint}`,
    );
  }
  const n = bytes.length / CIFAR10_RECORD_BYTES;
  const pixels = new Uint8Array(n * CIFAR10_PIXEL_BYTES);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const record = i * CIFAR10_RECORD_BYTES;
    const label = bytes[record];
    if (label >= CIFAR10_CLASS_NAMES.length) {
      throw new DatasetError(`CIFAR-10 batch ${file}: record ${i} has label ${label}, expected 0..9 (not a CIFAR-10 binary batch?)`);
    }
    labels[i] = label;
    pixels.set(bytes.subarray(record + 1, record + CIFAR10_RECORD_BYTES), i * CIFAR10_PIXEL_BYTES);
  }
  return validateDataset({
    name: `cifar10/${path.basename(file)}`,
    images: bytesToUnit(pixels),
    labels,
    n,
    channels: CHANNELS,
    height: SIDE,
    width: SIDE,
    numClasses: CIFAR10_CLASS_NAMES.length,
    classNames: [...CIFAR10_CLASS_NAMES],
  });
}

/** Reads one batch file such as data_batch_1.bin. */
export function readCifarBatch(file: string): ImageDataset {
  if (!fs.existsSync(file)) throw new DatasetError(`CIFAR-10 batch file not found: ${file}`);
  return parseCifarBatch(fs.readFileSync(file), file);
}

/**
 * The folder that actually holds the .bin files: `dir` itself, or `dir/cifar-10-batches-bin`
 * when `dir` is where the tarball was unpacked.
 */
export function resolveCifarDir(dir: string): string {
  if (!fs.existsSync(dir)) throw new DatasetError(`CIFAR-10 directory not found: ${dir}`);
  const nested = path.join(dir, 'cifar-10-batches-bin');
  const hasBatches = (d: string) => fs.existsSync(path.join(d, CIFAR10_TRAIN_FILES[0])) || fs.existsSync(path.join(d, CIFAR10_TEST_FILES[0]));
  if (!hasBatches(dir) && hasBatches(nested)) return nested;
  return dir;
}

export interface Cifar10Options {
  /** 'train' (50,000, default), 'test' (10,000) or 'all' (train then test) */
  split?: DatasetSplit;
  /** keep only the first `limit` images; batch files past the limit are not read */
  limit?: number;
}

/** CIFAR-10 from a folder of binary batches -> ImageDataset 3x32x32 in [0, 1]. */
export function loadCifar10(dir: string, opts: Cifar10Options = {}): ImageDataset {
  const split = opts.split ?? 'train';
  if (!DATASET_SPLITS.includes(split)) throw new DatasetError(`CIFAR-10: split must be one of ${DATASET_SPLITS.join(', ')}, got '${split}'`);
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 0)) {
    throw new DatasetError(`CIFAR-10: limit must be a non-negative integer, got ${opts.limit}`);
  }
  const root = resolveCifarDir(dir);
  const names = split === 'train' ? CIFAR10_TRAIN_FILES : split === 'test' ? CIFAR10_TEST_FILES : [...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES];
  // check every file up front so a missing one is reported before minutes of reading
  const missing = names.filter((name) => !fs.existsSync(path.join(root, name)));
  if (missing.length > 0) {
    throw new DatasetError(`CIFAR-10: missing ${missing.join(', ')} in ${root} (expected the binary batches ${names.join(', ')}; see datasets/README.md)`);
  }
  const parts: ImageDataset[] = [];
  let loaded = 0;
  for (const name of names) {
    // always read at least one file, so that even limit 0 gives the right image shape
    if (opts.limit !== undefined && parts.length > 0 && loaded >= opts.limit) break;
    const part = readCifarBatch(path.join(root, name));
    parts.push(part);
    loaded += part.n;
  }
  return takeFirst(concatDatasets(parts, `cifar10/${split}`), opts.limit);
}
