/**
 * The in-memory form every dataset reader produces.
 *
 * On purpose this layer knows nothing about the Tensor class: a dataset is a flat
 * Float32Array in [N, C, H, W] order (the layout the models use, channels first) with
 * values in [0, 1], plus integer class labels. Keeping it plain means the readers, the
 * loader and the image writers can be tested and reused without the autograd core.
 */

/**
 * The error the dataset readers throw for what they were asked to read: an unknown
 * --dataset spec, a missing folder or file, a file that is not what it should be. Its
 * message names the spec or file and is meant for the user, so the command line prints it
 * as one line, without a stack trace.
 */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

/** Which part of a dataset to load. 'all' is train followed by test. */
export type DatasetSplit = 'train' | 'test' | 'all';

export const DATASET_SPLITS: readonly DatasetSplit[] = ['train', 'test', 'all'];

export interface ImageDataset {
  /** e.g. 'mnist-bundled/train', 'fashion-mnist/test': says where the images came from */
  name: string;
  /** N*C*H*W pixel values in [0, 1], image after image, channel planes inside an image */
  images: Float32Array;
  /** N class labels, each in [0, numClasses) */
  labels: Int32Array;
  /** number of images N */
  n: number;
  channels: number;
  height: number;
  width: number;
  numClasses: number;
  /** classNames[k] names label k, where known */
  classNames?: string[];
}

/** MNIST labels are the digits themselves. */
export const MNIST_CLASS_NAMES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** Fashion-MNIST labels, from the dataset's README (zalandoresearch/fashion-mnist). */
export const FASHION_MNIST_CLASS_NAMES: readonly string[] = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
  'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

/** CIFAR-10 labels, in the order of batches.meta.txt. */
export const CIFAR10_CLASS_NAMES: readonly string[] = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
];

/** Numbers of values in one image (C*H*W). */
export function imageSize(ds: Pick<ImageDataset, 'channels' | 'height' | 'width'>): number {
  return ds.channels * ds.height * ds.width;
}

/** Image i as a view (no copy) into ds.images, [C, H, W]. Writing to it changes the dataset. */
export function getImage(ds: ImageDataset, i: number): Float32Array {
  if (!(Number.isInteger(i) && i >= 0 && i < ds.n)) {
    throw new RangeError(`getImage(${ds.name}): index ${i} is outside [0, ${ds.n})`);
  }
  const size = imageSize(ds);
  return ds.images.subarray(i * size, (i + 1) * size);
}

/**
 * Pixels in [0, 1] (how datasets hold them) to the [-1, 1] the models work in, 2 v - 1, as a
 * new array. (The DataLoader does the same in place while it assembles a batch.)
 */
export function toSignedPixels(pixels: ArrayLike<number>): Float32Array {
  return Float32Array.from(pixels, (v) => v * 2 - 1);
}

/**
 * Images [n, c, h, w] at 1/f of their size: each output pixel the mean of an f x f block of
 * input pixels (area averaging; what avgPool2d computes), summed in float64.
 */
export function downsampleImages(images: Float32Array, n: number, c: number, h: number, w: number, f: number): Float32Array {
  if (!(Number.isInteger(f) && f >= 1 && h % f === 0 && w % f === 0)) throw new RangeError(`downsampleImages: factor ${f} does not divide ${h}x${w}`);
  const oh = h / f;
  const ow = w / f;
  const out = new Float32Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        let sum = 0;
        for (let dy = 0; dy < f; dy++) for (let dx = 0; dx < f; dx++) sum += images[(p * h + y * f + dy) * w + x * f + dx];
        out[(p * oh + y) * ow + x] = sum / (f * f);
      }
    }
  }
  return out;
}

/**
 * The dataset at `size` x `size` (the first stage of a two-stage generator is trained on the
 * digits at 14x14): area-averaged by downsampleImages; the size must divide the images'.
 */
export function downsampleDataset(ds: ImageDataset, size: number): ImageDataset {
  if (ds.height === size && ds.width === size) return ds;
  if (!(Number.isInteger(size) && size >= 1 && ds.height === ds.width && ds.height % size === 0)) {
    throw new DatasetError(`dataset ${ds.name}: its images are ${ds.height}x${ds.width}; they can be made ${size}x${size} only when they are square and ${size} divides ${ds.height} (e.g. ${ds.height / 2})`);
  }
  const f = ds.height / size;
  return { ...ds, name: `${ds.name} at ${size}x${size}`, images: downsampleImages(ds.images, ds.n, ds.channels, ds.height, ds.width, f), height: size, width: size };
}

/**
 * Bytes 0..255 to floats in [0, 1] by b/255, the usual convention (torchvision's ToTensor).
 * Every reader goes through this one function so that the same stored byte always gives
 * the same float, whichever file it came from.
 */
export function bytesToUnit(bytes: Uint8Array, out = new Float32Array(bytes.length)): Float32Array {
  if (out.length !== bytes.length) throw new Error(`bytesToUnit: out has ${out.length} values, bytes ${bytes.length}`);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 255;
  return out;
}

/** How many images carry each label: counts[k] for k in [0, numClasses). */
export function classCounts(ds: ImageDataset): number[] {
  const counts = new Array<number>(ds.numClasses).fill(0);
  for (let i = 0; i < ds.n; i++) counts[ds.labels[i]]++;
  return counts;
}

/**
 * Checks that the fields agree with each other (lengths, label range, pixel range) and
 * throws an error that says which one does not. Readers call it before returning, so a
 * bug in a reader shows up here rather than as a strange loss curve later.
 */
export function validateDataset(ds: ImageDataset): ImageDataset {
  const where = `dataset '${ds.name}'`;
  for (const key of ['n', 'channels', 'height', 'width', 'numClasses'] as const) {
    const v = ds[key];
    if (!(Number.isInteger(v) && v >= 0)) throw new Error(`${where}: ${key} must be a non-negative integer, got ${v}`);
  }
  const expected = ds.n * imageSize(ds);
  if (ds.images.length !== expected) {
    throw new Error(`${where}: expected ${ds.n}x${ds.channels}x${ds.height}x${ds.width} = ${expected} pixel values, images has ${ds.images.length}`);
  }
  if (ds.labels.length !== ds.n) throw new Error(`${where}: expected ${ds.n} labels, got ${ds.labels.length}`);
  for (let i = 0; i < ds.n; i++) {
    const y = ds.labels[i];
    if (y < 0 || y >= ds.numClasses) throw new Error(`${where}: label ${y} of image ${i} is outside [0, ${ds.numClasses})`);
  }
  for (let i = 0; i < ds.images.length; i++) {
    const v = ds.images[i];
    // written as !(in range) so that NaN fails too
    if (!(v >= 0 && v <= 1)) throw new Error(`${where}: pixel value ${v} at flat index ${i} is outside [0, 1]`);
  }
  if (ds.classNames && ds.classNames.length !== ds.numClasses) {
    throw new Error(`${where}: ${ds.classNames.length} class names for ${ds.numClasses} classes`);
  }
  return ds;
}

/** A new dataset holding copies of the chosen images, in the order given. */
export function subsetDataset(ds: ImageDataset, indices: ArrayLike<number>, name = `${ds.name}[subset]`): ImageDataset {
  const size = imageSize(ds);
  const images = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    images.set(getImage(ds, i), k * size);
    labels[k] = ds.labels[i];
  }
  return { ...ds, name, images, labels, n: indices.length };
}

/** The first `limit` images (all of them when limit is undefined or larger than n). */
export function takeFirst(ds: ImageDataset, limit: number | undefined): ImageDataset {
  if (limit === undefined || limit >= ds.n) return ds;
  if (!(Number.isInteger(limit) && limit >= 0)) throw new Error(`limit must be a non-negative integer, got ${limit}`);
  const size = imageSize(ds);
  // slice copies, so the big array of the full set can be garbage collected
  return { ...ds, images: ds.images.slice(0, limit * size), labels: ds.labels.slice(0, limit), n: limit };
}

/**
 * Several datasets of the same image shape, one after the other (CIFAR-10's five
 * training batches, or a train and a test split joined into 'all').
 */
export function concatDatasets(parts: ImageDataset[], name: string): ImageDataset {
  if (parts.length === 0) throw new Error(`concatDatasets(${name}): nothing to join`);
  const first = parts[0];
  for (const p of parts) {
    if (p.channels !== first.channels || p.height !== first.height || p.width !== first.width || p.numClasses !== first.numClasses) {
      throw new Error(
        `concatDatasets(${name}): '${p.name}' is ${p.channels}x${p.height}x${p.width} with ${p.numClasses} classes, ` +
          `but '${first.name}' is ${first.channels}x${first.height}x${first.width} with ${first.numClasses}`,
      );
    }
  }
  const n = parts.reduce((sum, p) => sum + p.n, 0);
  const size = imageSize(first);
  const images = new Float32Array(n * size);
  const labels = new Int32Array(n);
  let offset = 0;
  for (const p of parts) {
    images.set(p.images, offset * size);
    labels.set(p.labels, offset);
    offset += p.n;
  }
  return { ...first, name, images, labels, n };
}
