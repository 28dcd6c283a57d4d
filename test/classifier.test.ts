/**
 * [unit 7: evaluation] The classifier behind `tiny-ddpm eval`: a small CNN trained with
 * this library. It learns a toy problem, its features have the advertised shape, its
 * weights file rebuilds the same network, and the shipped MNIST weights
 * (assets/mnist-classifier.safetensors) still reach >= 95% on the 1,000 held-out digits.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator, randn } from '../src';
import type { ImageDataset } from '../src/data/dataset';
import { loadDataset } from '../src/data';
import { SmallCnn, type ClassifierConfig } from '../src/classifier/model';
import { classify, evaluateAccuracy } from '../src/classifier/predict';
import { trainClassifier } from '../src/classifier/train';
import { loadClassifier, saveClassifier, shippedClassifierPath } from '../src/classifier/weights';
import { saveSafetensors } from '../src/checkpoint/safetensors';

const TOY: Partial<ClassifierConfig> = { channels: [4, 8], featureDim: 8 };

/**
 * n images of 1x8x8 in [0, 1]: label 0 = a horizontal bar, label 1 = a vertical bar, each
 * 2 pixels thick at a random place, over faint noise. No single pixel tells them apart.
 */
function bars(n: number, seed: number): ImageDataset {
  const g = new Generator(seed);
  const images = new Float32Array(n * 64);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const at = Math.floor(g.uniform() * 7); // rows/columns at..at+1
    labels[i] = label;
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++) {
        const onBar = label === 0 ? y === at || y === at + 1 : x === at || x === at + 1;
        images[i * 64 + y * 8 + x] = onBar ? 0.8 + 0.2 * g.uniform() : 0.2 * g.uniform();
      }
  }
  return { name: `bars-${seed}`, images, labels, n, channels: 1, height: 8, width: 8, numClasses: 2 };
}

const made: string[] = [];
const tmp = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-ddpm-classifier-'));
  made.push(dir);
  return dir;
};

describe('[unit 7: evaluation] classifier', function () {
  this.timeout(120000);
  after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('a tiny classifier learns horizontal vs vertical bars (held-out accuracy >= 95%)', () => {
    const lines: string[] = [];
    const before = evaluateAccuracy(new SmallCnn({ inChannels: 1, imageSize: 8, channels: [4, 8], featureDim: 8, numClasses: 2 }, { generator: new Generator(0) }), bars(64, 2));
    const r = trainClassifier(bars(128, 1), { config: TOY, epochs: 8, batchSize: 16, lr: 1e-2, seed: 0, testSet: bars(64, 2), log: (l) => lines.push(l), logEvery: 1000 });
    expect(r.history).to.have.length(8);
    expect(r.history[7].loss).to.be.below(r.history[0].loss);
    expect(r.history[7].testAccuracy, lines.join('\n')).to.be.at.least(0.95);
    expect(before.accuracy).to.be.below(0.8); // it learned: an untrained network is near chance
    expect(lines.filter((l) => l.startsWith('epoch '))).to.have.length(8);
  });

  it('is seeded: the same seed trains the same weights', () => {
    const a = trainClassifier(bars(32, 1), { config: TOY, epochs: 1, batchSize: 8, seed: 3 }).model;
    const b = trainClassifier(bars(32, 1), { config: TOY, epochs: 1, batchSize: 8, seed: 3 }).model;
    for (const [[name, p], [, q]] of a.namedParameters().map((e, i) => [e, b.namedParameters()[i]] as const)) {
      expect(Array.from(q.toArray()), name).to.deep.equal(Array.from(p.toArray()));
    }
  });

  it('features are the penultimate activations [B, 64]; forward gives logits [B, 10]', () => {
    const model = new SmallCnn();
    const x = randn([3, 1, 28, 28]);
    expect(model.features(x).shape).to.deep.equal([3, 64]);
    expect(model.forward(x).shape).to.deep.equal([3, 10]);
    expect(model.numParameters()).to.equal(16 * 9 + 16 + 32 * 16 * 9 + 32 + 1568 * 64 + 64 + 64 * 10 + 10);
    // ReLU features are >= 0, and the head applied to them is forward()
    const f = model.features(x);
    expect(Math.min(...f.toArray())).to.be.at.least(0);
    const logits = model.head.forward(f).toArray();
    model.forward(x).toArray().forEach((v, i) => expect(v).to.be.closeTo(logits[i], 1e-6));
    // classify() runs the same network in batches and adds the softmax
    const out = classify(model, x.toArray(), 3, { batchSize: 2 });
    expect(out.features).to.have.length(3 * 64);
    Array.from(out.features).forEach((v, i) => expect(v).to.be.closeTo(f.toArray()[i], 1e-5));
    for (let i = 0; i < 3; i++) expect(out.probs.subarray(i * 10, i * 10 + 10).reduce((s, p) => s + p, 0)).to.be.closeTo(1, 1e-5);
  });

  it('says what input shape it wanted', () => {
    expect(() => new SmallCnn().features(randn([2, 3, 28, 28]))).to.throw('SmallCnn: input must be [B, 1, 28, 28], got [2,3,28,28]');
    expect(() => new SmallCnn({ inChannels: 1, imageSize: 30, channels: [4, 4], featureDim: 4, numClasses: 2 })).to.throw(/imageSize must be divisible by 4/);
  });

  it('a weights file rebuilds the same network from its metadata alone', () => {
    const model = new SmallCnn({ inChannels: 1, imageSize: 8, channels: [4, 8], featureDim: 8, numClasses: 2 }, { generator: new Generator(5) });
    const file = path.join(tmp(), 'c.safetensors');
    saveClassifier(file, model, { dataset: 'bars', split: 'train', testAccuracy: 0.5, command: 'test' });
    const loaded = loadClassifier(file);
    expect(loaded.model.config).to.deep.equal(model.config);
    expect(loaded.metadata).to.include({ format: 'tiny-ddpm-classifier', architecture: 'SmallCnn', dataset: 'bars', testAccuracy: '0.5' });
    const x = randn([2, 1, 8, 8]);
    expect(Array.from(loaded.model.forward(x).toArray())).to.deep.equal(Array.from(model.forward(x).toArray()));
    // a file that is not a classifier is refused with its name
    const other = path.join(tmp(), 'other.safetensors');
    saveSafetensors(other, { w: { shape: [1], data: new Float32Array(1) } });
    expect(() => loadClassifier(other)).to.throw(`'${other}' is not a classifier file`);
    expect(() => loadClassifier('no/such/file.safetensors')).to.throw("no classifier at 'no/such/file.safetensors'");
  });

  it('the shipped MNIST classifier reaches >= 95% on the 1,000 held-out digits, as its metadata says', () => {
    const file = shippedClassifierPath('mnist');
    expect(fs.existsSync(file), file).to.equal(true);
    const { model, metadata } = loadClassifier(file);
    expect(metadata).to.include({ architecture: 'SmallCnn', dataset: 'mnist', split: 'train', trainImages: '9000', testImages: '1000' });
    expect(metadata.command).to.match(/^tiny-ddpm classifier --dataset mnist /);
    const test = loadDataset('mnist', { split: 'test' });
    const { accuracy, n } = evaluateAccuracy(model, test, { batchSize: 500 });
    expect(n).to.equal(1000);
    expect(accuracy).to.be.at.least(0.95);
    // the recorded accuracy is this one (other backends may round a few logits differently)
    expect(accuracy).to.be.closeTo(Number(metadata.testAccuracy), 0.003);
  });
});
