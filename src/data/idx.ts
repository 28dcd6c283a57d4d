/**
 * Reader for the IDX files of MNIST and Fashion-MNIST (format described on
 * http://yann.lecun.com/exdb/mnist/ and used unchanged by Fashion-MNIST).
 *
 * An IDX file is a header and then raw data:
 *   bytes 0-1  zero
 *   byte  2    element type: 0x08 = unsigned byte (the only type these datasets use)
 *   byte  3    number of dimensions d
 *   then d sizes, each a 32-bit big-endian unsigned integer
 *   then the elements, last dimension fastest (row-major), one byte each.
 * Read as one big-endian 32-bit number, the first four bytes are the "magic number":
 * 2051 = 0x00000803 for images ([N, 28, 28]) and 2049 = 0x00000801 for labels ([N]).
 *
 * The files are usually distributed gzipped (`train-images-idx3-ubyte.gz`). Whether to
 * gunzip is decided from the content (gzip streams start with 0x1f 0x8b), not from the
 * name: browsers and download tools often unpack a `.gz` and keep the name, or the other
 * way round.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { DatasetError, DatasetSplit, DATASET_SPLITS, FASHION_MNIST_CLASS_NAMES, ImageDataset, MNIST_CLASS_NAMES, bytesToUnit, concatDatasets, validateDataset } from './dataset';

export const IDX_IMAGES_MAGIC = 2051;
export const IDX_LABELS_MAGIC = 2049;
const IDX_TYPE_UNSIGNED_BYTE = 0x08;

/** Where Debian's `dataset-fashion-mnist` package installs the four .gz files. */
export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export interface IdxArray {
  /** the file it was read from, for error messages further on */
  file: string;
  magic: number;
  dims: number[];
  /** the elements, row-major, product(dims) bytes */
  data: Uint8Array;
}

function describeMagic(magic: number): string {
  if (magic === IDX_IMAGES_MAGIC) return '2051 (0x00000803: unsigned-byte images, 3 dimensions)';
  if (magic === IDX_LABELS_MAGIC) return '2049 (0x00000801: unsigned-byte labels, 1 dimension)';
  return `${magic} (0x${magic.toString(16).padStart(8, '0')})`;
}

/**
 * Parses IDX bytes already in memory (not gzipped). `file` is only used in messages.
 * With `expectedMagic`, a file of the wrong kind (labels given as images, an HTML error
 * page saved by a failed download) is refused with a message saying what was expected.
 */
export function parseIdx(bytes: Uint8Array, file: string, expectedMagic?: number): IdxArray {
  if (bytes.length < 4) {
    throw new DatasetError(`IDX file ${file}: only ${bytes.length} bytes, too short for the 4-byte magic number (truncated or empty file?)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false); // false = big-endian
  if (expectedMagic !== undefined && magic !== expectedMagic) {
    const looksLikeText = bytes[0] === 0x3c; // '<', as in <html>
    throw new DatasetError(
      `IDX file ${file}: bad magic number ${describeMagic(magic)}, expected ${describeMagic(expectedMagic)}` +
        (looksLikeText ? ' (the file starts with "<": an HTML page saved instead of the data?)' : ''),
    );
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DatasetError(`IDX file ${file}: bad magic number ${describeMagic(magic)}, an IDX file starts with two zero bytes`);
  }
  if (bytes[2] !== IDX_TYPE_UNSIGNED_BYTE) {
    throw new DatasetError(`IDX file ${file}: element type 0x${bytes[2].toString(16)} is not supported, expected 0x08 (unsigned byte)`);
  }
  const ndims = bytes[3];
  const headerSize = 4 + 4 * ndims;
  if (bytes.length < headerSize) {
    throw new DatasetError(`IDX file ${file}: truncated header, ${ndims} dimension sizes need ${headerSize} bytes but the file has ${bytes.length}`);
  }
  const dims: number[] = [];
  for (let k = 0; k < ndims; k++) dims.push(view.getUint32(4 + 4 * k, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const available = bytes.length - headerSize;
  if (available < count) {
    throw new DatasetError(
      `IDX file ${file}: truncated, the header says ${dims.join('x')} = ${count} bytes of data but only ${available} follow`,
    );
  }
  if (available > count) {
    throw new DatasetError(
      `IDX file ${file}: ${available - count} unexpected bytes after the ${dims.join('x')} = ${count} bytes the header announces`,
    );
  }
  return { file, magic, dims, data: bytes.subarray(headerSize) };
}

/** Reads an IDX file from disk, gunzipping it if its content is gzip. */
export function readIdxFile(file: string, expectedMagic?: number): IdxArray {
  if (!fs.existsSync(file)) throw new DatasetError(`IDX file not found: ${file}`);
  let bytes: Uint8Array = fs.readFileSync(file);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (err) {
      throw new DatasetError(`IDX file ${file}: looks gzipped but does not decompress (${(err as Error).message}); truncated download?`);
    }
  }
  return parseIdx(bytes, file, expectedMagic);
}

/**
 * The names an IDX file is found under: the official name, its gzipped form, and the
 * `train-images.idx3-ubyte` spelling that some archives (and Windows unzippers) produce.
 */
export function idxFileCandidates(split: 'train' | 'test', kind: 'images' | 'labels'): string[] {
  const prefix = split === 'train' ? 'train' : 't10k';
  const suffix = kind === 'images' ? 'idx3-ubyte' : 'idx1-ubyte';
  const official = `${prefix}-${kind}-${suffix}`;
  return [official, `${official}.gz`, `${prefix}-${kind}.${suffix}`, `${prefix}-${kind}.${suffix}.gz`];
}

/** The first candidate that exists in dir, or an error listing everything looked for. */
export function findIdxFile(dir: string, split: 'train' | 'test', kind: 'images' | 'labels'): string {
  if (!fs.existsSync(dir)) throw new DatasetError(`IDX dataset directory not found: ${dir}`);
  const names = idxFileCandidates(split, kind);
  for (const name of names) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return file;
  }
  throw new DatasetError(`no ${split} ${kind} file in ${dir}: looked for ${names.join(', ')} (see datasets/README.md)`);
}

export interface IdxPairOptions {
  name: string;
  numClasses?: number;
  classNames?: string[];
  /** convert only the first `limit` images to floats */
  limit?: number;
}

/** An images file and a labels file of the same length -> ImageDataset 1xHxW in [0, 1]. */
export function loadIdxPair(imagesFile: string, labelsFile: string, opts: IdxPairOptions): ImageDataset {
  const images = readIdxFile(imagesFile, IDX_IMAGES_MAGIC);
  const labels = readIdxFile(labelsFile, IDX_LABELS_MAGIC);
  if (images.dims.length !== 3) throw new DatasetError(`IDX file ${imagesFile}: expected 3 dimensions [N, H, W], got [${images.dims.join(', ')}]`);
  if (labels.dims.length !== 1) throw new DatasetError(`IDX file ${labelsFile}: expected 1 dimension [N], got [${labels.dims.join(', ')}]`);
  const [n, height, width] = images.dims;
  if (labels.dims[0] !== n) {
    throw new DatasetError(`IDX count mismatch: ${imagesFile} holds ${n} images but ${labelsFile} holds ${labels.dims[0]} labels`);
  }
  const numClasses = opts.numClasses ?? 10;
  for (let i = 0; i < n; i++) {
    if (labels.data[i] >= numClasses) {
      throw new DatasetError(`IDX file ${labelsFile}: label ${labels.data[i]} at index ${i} is not in [0, ${numClasses})`);
    }
  }
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 0)) {
    throw new DatasetError(`limit must be a non-negative integer, got ${opts.limit}`);
  }
  const count = Math.min(opts.limit ?? n, n);
  const ds: ImageDataset = {
    name: opts.name,
    images: bytesToUnit(images.data.subarray(0, count * height * width)),
    labels: Int32Array.from(labels.data.subarray(0, count)),
    n: count,
    channels: 1,
    height,
    width,
    numClasses,
    classNames: opts.classNames,
  };
  return validateDataset(ds);
}

export interface MnistIdxOptions {
  /** 'train' (60,000, default), 'test' (10,000) or 'all' (train then test) */
  split?: DatasetSplit;
  /** keep only the first `limit` images (of the joined set, for 'all') */
  limit?: number;
  /** dataset name prefix; '/split' is appended */
  name?: string;
  classNames?: string[];
}

/** MNIST-layout IDX files in `dir` (MNIST itself, Fashion-MNIST, KMNIST, ...). */
export function loadMnistIdx(dir: string, opts: MnistIdxOptions = {}): ImageDataset {
  const split = opts.split ?? 'train';
  if (!DATASET_SPLITS.includes(split)) throw new DatasetError(`IDX dataset: split must be one of ${DATASET_SPLITS.join(', ')}, got '${split}'`);
  const base = opts.name ?? 'mnist-idx';
  const classNames = opts.classNames ?? [...MNIST_CLASS_NAMES];
  const loadOne = (part: 'train' | 'test', limit?: number) =>
    loadIdxPair(findIdxFile(dir, part, 'images'), findIdxFile(dir, part, 'labels'), {
      name: `${base}/${part}`,
      classNames,
      limit,
    });
  if (split !== 'all') return loadOne(split, opts.limit);
  const train = loadOne('train', opts.limit);
  // the test half is only needed when the limit reaches past the training set
  const rest = opts.limit === undefined ? undefined : opts.limit - train.n;
  if (rest === 0) return { ...train, name: `${base}/all` };
  return concatDatasets([train, loadOne('test', rest)], `${base}/all`);
}

/** Fashion-MNIST: 28x28 grayscale clothes, same files and layout as MNIST. */
export function loadFashionMnist(dir = DEFAULT_FASHION_MNIST_DIR, opts: Omit<MnistIdxOptions, 'name' | 'classNames'> = {}): ImageDataset {
  return loadMnistIdx(dir, { ...opts, name: 'fashion-mnist', classNames: [...FASHION_MNIST_CLASS_NAMES] });
}
