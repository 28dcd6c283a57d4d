/**
 * DataLoader: turns an ImageDataset into an endless stream of shuffled mini-batches for a
 * step-based trainer ("train for 20,000 steps", not "for 12 epochs").
 *
 * - Each epoch visits every image exactly once, in an order drawn from a seeded Generator,
 *   so the same seed gives the same batches on every machine.
 * - Pixels are scaled from [0, 1] to [-1, 1] by x*2-1 (on by default): DDPM's forward
 *   process mixes the image with unit Gaussian noise, and the data is expected to be
 *   centred on 0 with the same scale as that noise (Ho et al. 2020, section 3.3).
 * - An optional random horizontal flip, the one augmentation DDPM used on CIFAR-10.
 *   It is not for digits: a mirrored 3 or 7 is not a digit.
 * - getState()/setState() capture the epoch, the position in it, the epoch's order and the
 *   generators, so a run resumed from a checkpoint sees exactly the batches it would have
 *   seen without the interruption.
 */
import { Generator, GeneratorState } from '../random';
import { ImageDataset, imageSize } from './dataset';

export interface Batch {
  /** B*C*H*W values, [B, C, H, W] */
  images: Float32Array;
  labels: Int32Array;
  shape: [number, number, number, number];
  /** which dataset images these are (before any flip) */
  indices: Int32Array;
  /** the epoch the batch belongs to, counted from 0 */
  epoch: number;
}

export interface DataLoaderOptions {
  batchSize: number;
  /** seed of the shuffling (and flipping) generators; default 0 */
  seed?: number;
  /** draw a new order every epoch (default true); false keeps the dataset order, for evaluation */
  shuffle?: boolean;
  /**
   * Skip the last, smaller batch of each epoch (default true). A trainer then always sees
   * batches of the same size, which also spares gpu.js from compiling kernels for a second
   * size. The skipped images are different ones each epoch when shuffling.
   */
  dropLast?: boolean;
  /** map [0, 1] to [-1, 1] with x*2-1 (default true); false hands out the stored [0, 1] values */
  scaleToMinusOneOne?: boolean;
  /** mirror each image left-right with probability 1/2 (default false) */
  horizontalFlip?: boolean;
}

/** Everything needed to continue a loader exactly; plain JSON-serialisable data. */
export interface DataLoaderState {
  epoch: number;
  /** how many entries of `permutation` have been handed out this epoch */
  position: number;
  /** the order of the current epoch */
  permutation: number[];
  shuffleRng: GeneratorState;
  flipRng: GeneratorState;
  /** recorded to refuse a state that belongs to another dataset or batch size */
  datasetSize: number;
  batchSize: number;
}

/**
 * Flips use a generator of their own, seeded from the same seed mixed with this constant,
 * so that turning flips on or off does not change which images go into which batch.
 */
const FLIP_SEED_MIX = 0x5f3759df;

export class DataLoader {
  readonly dataset: ImageDataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly scaleToMinusOneOne: boolean;
  readonly horizontalFlip: boolean;

  private shuffleRng: Generator;
  private flipRng: Generator;
  private currentEpoch = 0;
  private currentPosition = 0;
  private permutation: number[] = [];

  constructor(dataset: ImageDataset, opts: DataLoaderOptions) {
    const { batchSize } = opts;
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = opts.shuffle ?? true;
    this.dropLast = opts.dropLast ?? true;
    this.scaleToMinusOneOne = opts.scaleToMinusOneOne ?? true;
    this.horizontalFlip = opts.horizontalFlip ?? false;
    if (dataset.n === 0) throw new Error(`DataLoader: dataset '${dataset.name}' is empty`);
    if (this.dropLast && dataset.n < batchSize) {
      throw new Error(
        `DataLoader: dataset '${dataset.name}' has ${dataset.n} images, fewer than batchSize ${batchSize}; ` +
          'with dropLast no batch could ever be made (lower batchSize or set dropLast: false)',
      );
    }
    const seed = opts.seed ?? 0;
    this.shuffleRng = new Generator(seed);
    this.flipRng = new Generator((seed ^ FLIP_SEED_MIX) | 0);
    this.startEpoch(0);
  }

  /** Batches in one epoch: floor(n/B) with dropLast, ceil(n/B) without. */
  get batchesPerEpoch(): number {
    const n = this.dataset.n;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The epoch the last batch came from (0 before the first batch). */
  get epoch(): number {
    return this.currentEpoch;
  }

  /** Images of the current epoch already handed out. */
  get position(): number {
    return this.currentPosition;
  }

  private startEpoch(epoch: number): void {
    const n = this.dataset.n;
    this.currentEpoch = epoch;
    this.currentPosition = 0;
    this.permutation = this.shuffle ? this.shuffleRng.permutation(n) : Array.from({ length: n }, (_, i) => i);
  }

  /** The next batch; moves on to a new epoch (and a new order) by itself. Never ends. */
  next(): Batch {
    const ds = this.dataset;
    let remaining = ds.n - this.currentPosition;
    if (remaining === 0 || (this.dropLast && remaining < this.batchSize)) {
      this.startEpoch(this.currentEpoch + 1);
      remaining = ds.n;
    }
    const b = Math.min(this.batchSize, remaining);
    const size = imageSize(ds);
    const { channels: c, height: h, width: w } = ds;
    const images = new Float32Array(b * size);
    const labels = new Int32Array(b);
    const indices = new Int32Array(b);
    const scale = this.scaleToMinusOneOne ? 2 : 1;
    const shift = this.scaleToMinusOneOne ? -1 : 0;

    for (let k = 0; k < b; k++) {
      const i = this.permutation[this.currentPosition + k];
      indices[k] = i;
      labels[k] = ds.labels[i];
      const src = i * size;
      const dst = k * size;
      const flip = this.horizontalFlip && this.flipRng.uniform() < 0.5;
      for (let ch = 0; ch < c; ch++) {
        for (let y = 0; y < h; y++) {
          const row = ch * h * w + y * w;
          for (let x = 0; x < w; x++) {
            // a flip reads each row right to left: out[.., y, x] = in[.., y, w-1-x]
            const sx = flip ? w - 1 - x : x;
            images[dst + row + x] = ds.images[src + row + sx] * scale + shift;
          }
        }
      }
    }
    this.currentPosition += b;
    return { images, labels, shape: [b, c, h, w], indices, epoch: this.currentEpoch };
  }

  getState(): DataLoaderState {
    return {
      epoch: this.currentEpoch,
      position: this.currentPosition,
      permutation: this.permutation.slice(),
      shuffleRng: this.shuffleRng.getState(),
      flipRng: this.flipRng.getState(),
      datasetSize: this.dataset.n,
      batchSize: this.batchSize,
    };
  }

  /** Continue from a state taken by getState() on a loader over the same dataset. */
  setState(state: DataLoaderState): this {
    const n = this.dataset.n;
    if (state.datasetSize !== n) {
      throw new Error(`DataLoader.setState: the state is for a dataset of ${state.datasetSize} images, '${this.dataset.name}' has ${n}`);
    }
    if (state.batchSize !== this.batchSize) {
      throw new Error(`DataLoader.setState: the state is for batchSize ${state.batchSize}, this loader has ${this.batchSize}`);
    }
    if (!Array.isArray(state.permutation) || state.permutation.length !== n) {
      throw new Error(`DataLoader.setState: permutation must list all ${n} indices`);
    }
    if (!(Number.isInteger(state.position) && state.position >= 0 && state.position <= n)) {
      throw new Error(`DataLoader.setState: position ${state.position} is outside [0, ${n}]`);
    }
    if (!(Number.isInteger(state.epoch) && state.epoch >= 0)) throw new Error(`DataLoader.setState: bad epoch ${state.epoch}`);
    this.currentEpoch = state.epoch;
    this.currentPosition = state.position;
    this.permutation = state.permutation.slice();
    this.shuffleRng.setState(state.shuffleRng);
    this.flipRng.setState(state.flipRng);
    return this;
  }
}
