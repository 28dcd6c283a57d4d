/**
 * [unit 7: evaluation] Sample quality: FID with the shipped classifier's features, its
 * real-vs-real floor, the recognized share, class coverage, `tiny-ddpm eval` on a folder
 * of PNGs, and the trainer's --eval-every hook. Expected values come from what must hold
 * whatever the network learned (FID(x, x) = 0, real digits beat noise) and from hand
 * computations (entropies of small histograms).
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, writeImagePng } from '../src';
import type { ImageDataset } from '../src/data/dataset';
import { loadDataset } from '../src/data';
import { loadClassifier, saveClassifier, shippedClassifierPath } from '../src/classifier/weights';
import { trainClassifier } from '../src/classifier/train';
import { classCoverage, evaluateSamples, normalizedEntropy, realReference, recognizedShare, askedClassAccuracy } from '../src/metrics/sample-quality';
import { readPngFolder } from '../src/metrics/png-folder';
import { train } from '../src/train/trainer';
import type { UNetConfig } from '../src/nn/unet';
import { main } from '../src/cli/main';

const made: string[] = [];
const tmp = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-ddpm-eval-'));
  made.push(dir);
  return dir;
};
const N = 200;

/** The first n images of a dataset, mapped to [-1, 1] as a DDPM samples them. */
function firstImages(ds: ImageDataset, n: number, offset = 0): Float32Array {
  const per = ds.channels * ds.height * ds.width;
  return ds.images.slice(offset * per, (offset + n) * per).map((v) => v * 2 - 1);
}

/** n uniform-noise images of 1x28x28 in [-1, 1]. */
function noise(n: number, seed = 7): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: n * 784 }, () => g.uniform() * 2 - 1);
}

/** Writes images [n, 1, 28, 28] in [-1, 1] as PNGs img_0.png ... into a new folder. */
function pngFolder(images: Float32Array, n: number): string {
  const dir = tmp();
  for (let i = 0; i < n; i++) writeImagePng(path.join(dir, `img_${i}.png`), images.subarray(i * 784, (i + 1) * 784), 1, 28, 28);
  return dir;
}

async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const origOut = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  (process.stdout as unknown as { write: unknown }).write = (s: string) => (out.push(String(s)), true);
  (process.stderr as unknown as { write: unknown }).write = (s: string) => (err.push(String(s)), true);
  try {
    const code = await main(args);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    (process.stdout as unknown as { write: unknown }).write = origOut;
    (process.stderr as unknown as { write: unknown }).write = origErr;
  }
}

describe('[unit 7: evaluation] sample quality', function () {
  this.timeout(120000);
  after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const classifier = () => loadClassifier(shippedClassifierPath('mnist')).model;

  describe('coverage and recognized share (hand-made inputs)', () => {
    it('counts each predicted class and measures evenness as entropy / log K', () => {
      const c = classCoverage([0, 0, 1, 3], 4);
      expect(c.counts).to.deep.equal([2, 1, 0, 1]);
      expect(c.present).to.deep.equal([0, 1, 3]);
      // p = (1/2, 1/4, 0, 1/4): H = 1/2 ln 2 + 2 * 1/4 ln 4 = 1.5 ln 2, log K = ln 4 = 2 ln 2
      expect(c.evenness).to.be.closeTo(0.75, 1e-12);
      expect(classCoverage([0, 1, 2, 3, 0, 1, 2, 3], 4).evenness).to.be.closeTo(1, 1e-12);
      expect(classCoverage([2, 2, 2], 4).evenness).to.equal(0);
      expect(normalizedEntropy([0, 0])).to.equal(0);
      expect(() => classCoverage([0, 4], 4)).to.throw('classCoverage: class 4 of sample 1 is outside [0, 4)');
    });

    it('counts rows whose top probability exceeds the threshold', () => {
      const probs = Float32Array.from([0.95, 0.05, 0.5, 0.5, 0.9, 0.1, 0.01, 0.99]);
      expect(recognizedShare(probs, 4, 2)).to.equal(0.5); // 0.95 and 0.99; 0.9 is not > 0.9
      expect(recognizedShare(probs, 4, 2, 0.4)).to.equal(1);
    });

    it('asked-class accuracy: the share classified as asked, overall and per asked class', () => {
      const r = askedClassAccuracy([0, 1, 1, 2, 2, 0], [0, 1, 2, 2, 2, 1], 4);
      expect(r.accuracy).to.be.closeTo(4 / 6, 1e-12);
      // class 0: 1/1, class 1: 1/2 (the last sample came out 0), class 2: 2/3 (one came out 1), class 3: never asked
      expect(r.perClass).to.deep.equal([1, 0.5, 2 / 3, null]);
      expect(() => askedClassAccuracy([0, 1], [0], 4)).to.throw(/1 asked classes for 2 samples/);
      expect(() => askedClassAccuracy([0], [4], 4)).to.throw(/asked class 4 of sample 0 is outside \[0, 4\)/);
    });
  });

  describe('with the shipped MNIST classifier', () => {
    it('FID of real digits against the same real digits is 0', () => {
      const model = classifier();
      const test = loadDataset('mnist', { split: 'test' });
      const q = evaluateSamples(firstImages(test, N), N, 1, 28, 28, { classifier: model, reference: test });
      expect(q.fid).to.be.below(1e-6);
      expect(q.referenceN).to.equal(N);
    });

    it('the real-vs-real floor is small and far below the FID of noise; real digits are recognized, noise is not', () => {
      const model = classifier();
      const test = loadDataset('mnist', { split: 'test' });
      const train = loadDataset('mnist', { split: 'train' });
      const ref = realReference(model, test, N, train);
      expect(ref.floor).to.be.a('number');
      const floor = ref.floor!;
      // held-out real digits against a third real set (training digits the floor did not use)
      const real = evaluateSamples(firstImages(train, N, 5000), N, 1, 28, 28, { classifier: model, reference: ref });
      const junk = evaluateSamples(noise(N), N, 1, 28, 28, { classifier: model, reference: ref });
      expect(floor).to.be.above(0);
      expect(floor).to.be.below(junk.fid / 10);
      expect(real.fid).to.be.below(junk.fid / 10);
      expect(real.fid).to.be.below(3 * floor);
      expect(real.recognized).to.be.above(0.85);
      expect(ref.recognized).to.be.above(0.85);
      expect(junk.recognized).to.be.below(0.3);
      expect(real.coverage.present).to.have.length(10);
      expect(real.coverage.evenness).to.be.above(0.95);
      expect(junk.coverage.evenness).to.be.below(real.coverage.evenness);
    });

    it('says when the samples do not fit the classifier', () => {
      const model = classifier();
      const test = loadDataset('mnist', { split: 'test', limit: 10 });
      expect(() => evaluateSamples(new Float32Array(4 * 3 * 32 * 32), 4, 3, 32, 32, { classifier: model, reference: test })).to.throw(
        'the samples are 3x32x32 (channels x height x width), but the classifier takes 1x28x28',
      );
      expect(() => evaluateSamples(new Float32Array(10), 4, 1, 28, 28, { classifier: model, reference: test })).to.throw(/expected 4x1x28x28 = 3136 values, got 10/);
    });
  });

  describe('a folder of PNGs', () => {
    it('reads them in natural order into [-1, 1]', () => {
      const test = loadDataset('mnist', { split: 'test', limit: 12 });
      const dir = pngFolder(firstImages(test, 12), 12);
      const f = readPngFolder(dir, { channels: 1, size: 28 }, 11);
      expect(f.n).to.equal(11);
      expect(f.available).to.equal(12);
      expect(f.files.map((p) => path.basename(p)).slice(0, 3)).to.deep.equal(['img_0.png', 'img_1.png', 'img_2.png']);
      expect(f.files[10]).to.match(/img_10\.png$/);
      // 8-bit PNGs of 8-bit digits come back exactly
      const back = firstImages(test, 11);
      for (let i = 0; i < back.length; i++) expect(f.images[i]).to.be.closeTo(back[i], 1e-6);
    });

    it('errors name the missing folder, the empty folder, and the file of the wrong size or channels', () => {
      expect(() => readPngFolder('/no/such/dir', { channels: 1, size: 28 })).to.throw("eval: no folder '/no/such/dir'");
      const empty = tmp();
      fs.writeFileSync(path.join(empty, 'notes.txt'), 'hi');
      expect(() => readPngFolder(empty, { channels: 1, size: 28 })).to.throw(`eval: no PNG files in '${empty}'`);

      const big = pngFolder(noise(2), 2);
      const wrongSize = path.join(big, 'img_1.png');
      writeImagePng(wrongSize, new Float32Array(32 * 32), 1, 32, 32);
      expect(() => readPngFolder(big, { channels: 1, size: 28 })).to.throw(`eval: ${wrongSize} is 32x32 pixels, but the classifier takes 28x28`);

      const color = pngFolder(noise(2), 2);
      const rgb = path.join(color, 'img_0.png');
      writeImagePng(rgb, Float32Array.from({ length: 3 * 784 }, (_, i) => (i < 784 ? 1 : -1)), 3, 28, 28);
      expect(() => readPngFolder(color, { channels: 1, size: 28 })).to.throw(`eval: ${rgb} has 3 channels (color), but the classifier takes 1 (gray)`);
      // a gray image saved as RGB (three equal channels) is accepted
      writeImagePng(rgb, new Float32Array(3 * 784).fill(0.5), 3, 28, 28);
      expect(readPngFolder(color, { channels: 1, size: 28 }).n).to.equal(2);

      const broken = pngFolder(noise(1), 1);
      const bad = path.join(broken, 'img_0.png');
      fs.writeFileSync(bad, 'not a png');
      expect(() => readPngFolder(broken, { channels: 1, size: 28 })).to.throw(`eval: ${bad} is not a readable PNG`);
    });
  });

  describe('tiny-ddpm eval', () => {
    it('prints the table for a folder of real digits', async () => {
      const train = loadDataset('mnist', { split: 'train' });
      const dir = pngFolder(firstImages(train, 100, 5000), 100);
      const r = await runCli(['eval', '--samples', dir, '--backend', 'ref']);
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.match(/FID \(N = 100\)\s+\d+\.\d\d\s+\d+\.\d\d/);
      expect(r.out).to.match(/recognized \(max p > 0\.9\)\s+\d+\.\d%\s+\d+\.\d%/);
      expect(r.out).to.match(/classes present\s+\d+\/10\s+10\/10/);
      expect(r.out).to.match(/evenness \(entropy \/ log 10\)/);
      expect(r.out).to.match(/^\s+class\s+0\s+1\s+2\s+3\s+4\s+5\s+6\s+7\s+8\s+9$/m);
      expect(r.out).to.contain('100 images of mnist-bundled/test; floor: against the first 100 of mnist-bundled/train');

      const j = await runCli(['eval', '--samples', dir, '--backend', 'ref', '--n', '50', '--json']);
      expect(j.code, j.err).to.equal(0);
      const report = JSON.parse(j.out);
      expect(report.quality.n).to.equal(50);
      expect(report.quality.fid).to.be.a('number').and.to.be.above(0);
      expect(report.quality.floor).to.be.a('number').and.to.be.above(0);
      expect(report.quality.coverage.counts.reduce((s: number, c: number) => s + c, 0)).to.equal(50);
      expect(report.classifier.metadata.dataset).to.equal('mnist');
    });

    it('fails with one line naming the problem', async () => {
      const missing = await runCli(['eval', '--samples', '/no/such/dir', '--backend', 'ref']);
      expect(missing.code).to.equal(2);
      expect(missing.err).to.equal("tiny-ddpm: eval: no folder '/no/such/dir'\n");
      const dir = pngFolder(noise(3), 3);
      const tooMany = await runCli(['eval', '--samples', dir, '--backend', 'ref', '--n', '5']);
      expect(tooMany.err).to.contain(`eval: --n 5 asks for more samples than the 3 PNGs in '${dir}'`);
      const noClassifier = await runCli(['eval', '--samples', dir, '--classifier', 'nope.safetensors']);
      expect(noClassifier.err).to.contain("no classifier at 'nope.safetensors'");
    });
  });

  describe('train --eval-every', () => {
    const TINY: UNetConfig = { inChannels: 1, baseChannels: 8, channelMults: [1, 2], numResBlocks: 1, attnLevels: [], midAttention: false, timeFeatures: 8, timeDim: 16, groups: 4 };

    /** 32 images of 1x8x8: horizontal (label 0) or vertical (label 1) bars. */
    function bars(n: number, seed: number): ImageDataset {
      const g = new Generator(seed);
      const images = new Float32Array(n * 64);
      const labels = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const at = Math.floor(g.uniform() * 7);
        labels[i] = i % 2;
        for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) images[i * 64 + y * 8 + x] = ((i % 2 === 0 ? y : x) - at + 2) % 8 < 2 ? 1 : 0;
      }
      return { name: 'bars', images, labels, n, channels: 1, height: 8, width: 8, numClasses: 2 };
    }

    it('scores samples every N steps beside the loss and writes eval.csv', async () => {
      const data = bars(32, 1);
      const clsFile = path.join(tmp(), 'bars-classifier.safetensors');
      const { model } = trainClassifier(data, { config: { channels: [4, 4], featureDim: 6 }, epochs: 2, batchSize: 8, lr: 1e-2 });
      saveClassifier(clsFile, model, { dataset: 'bars' });
      const out = tmp();
      const lines: string[] = [];
      const stream = { write: (s: string) => lines.push(s), isTTY: false } as unknown as NodeJS.WriteStream;
      await train(
        { dataset: data, model: TINY, batchSize: 4, steps: 4, warmup: 0, checkpointEvery: 4, sampleEvery: 0, numSamples: 4, sampleSteps: 3, timesteps: 50, evalEvery: 2, evalSamples: 8, evalClassifier: clsFile, outDir: out },
        { stream },
      );
      const rows = fs.readFileSync(path.join(out, 'eval.csv'), 'utf8').trim().split('\n');
      expect(rows[0]).to.equal('step,fid,floor,recognized,classes_present,evenness,n,eval_seconds');
      expect(rows.slice(1).map((r) => Number(r.split(',')[0]))).to.deep.equal([2, 4]);
      for (const row of rows.slice(1)) {
        const [, fid, floor, recognized, present, evenness, n] = row.split(',').map(Number);
        expect(fid).to.be.at.least(0);
        expect(floor).to.be.at.least(0); // 32 images hold two disjoint sets of 8
        expect(recognized).to.be.within(0, 1);
        expect(present).to.be.within(1, 2);
        expect(evenness).to.be.within(0, 1);
        expect(n).to.equal(8);
      }
      expect(lines.join('')).to.match(/step 2: FID \d+\.\d\d \(real-vs-real floor \d+\.\d\d, N = 8\), recognized \d+\.\d%, classes \d\/2/);
    });

    it('without a classifier for the dataset it fails before training', async () => {
      let err: Error | null = null;
      try {
        await train({ dataset: 'mnist', limit: 8, model: TINY, batchSize: 4, steps: 1, evalEvery: 1, evalClassifier: 'nope.safetensors', outDir: tmp() }, { stream: { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream });
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).to.equal("train: --eval-every: no classifier at 'nope.safetensors'; train one with 'tiny-ddpm classifier --dataset mnist' or pass --eval-classifier");
    });
  });
});
