/**
 * [unit 8: conditioning] The CLIP-style model: symmetric InfoNCE against a loop over the
 * logits, unit vectors, the loss falling on a fixed batch, save/load, and clip-score's errors.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { noGrad } from '../src/autograd';
import { randn } from '../src/creation';
import { Generator } from '../src/random';
import { Adam } from '../src/optim/adam';
import { ClipModel, normalizeRows } from '../src/clip/model';
import { clipCosines, loadClip, permutation, saveClip } from '../src/clip/train';
import { TextConditioner } from '../src/train/condition';
import { MNIST_CLASS_NAMES } from '../src/data/dataset';
import { main } from '../src/cli/main';

const cond = TextConditioner.forDataset({ numClasses: 10, classNames: [...MNIST_CLASS_NAMES] });
const small = () =>
  new ClipModel({
    image: { inChannels: 1, imageSize: 8, channels: [4, 4], featureDim: 8, numClasses: 10 },
    text: { vocabSize: cond.tokenizer.size, maxLength: cond.length, dim: 8, layers: 1, heads: 2 },
    embedDim: 6,
  }, { generator: new Generator(1) });

describe('[unit 8: conditioning] the CLIP-style model', function () {
  this.timeout(60000);

  it('symmetric InfoNCE equals the mean of the row-wise and column-wise cross-entropies, computed by loops', () => {
    const model = small();
    const a = normalizeRows(randn([4, 6], { generator: new Generator(2) }));
    const b = normalizeRows(randn([4, 6], { generator: new Generator(3) }));
    const got = noGrad(() => model.contrastiveLoss(a, b)).item();
    const A = a.toArray();
    const B = b.toArray();
    const scale = 1 / 0.07;
    const logit = (i: number, j: number) => scale * [0, 1, 2, 3, 4, 5].reduce((s, d) => s + A[i * 6 + d] * B[j * 6 + d], 0);
    let rows = 0;
    let cols = 0;
    for (let i = 0; i < 4; i++) {
      const lse = (f: (j: number) => number) => Math.log([0, 1, 2, 3].reduce((s, j) => s + Math.exp(f(j)), 0));
      rows += lse((j) => logit(i, j)) - logit(i, i);
      cols += lse((j) => logit(j, i)) - logit(i, i);
    }
    expect(got).to.be.closeTo((rows / 4 + cols / 4) / 2, 1e-4);
    // unit vectors
    const n = normalizeRows(randn([3, 5])).toArray();
    for (let i = 0; i < 3; i++) expect([0, 1, 2, 3, 4].reduce((s, d) => s + n[i * 5 + d] ** 2, 0)).to.be.closeTo(1, 1e-5);
  });

  it('the loss falls on a fixed batch of ten image-caption pairs, and save/load keeps the scores', () => {
    const model = small();
    const images = randn([10, 1, 8, 8], { generator: new Generator(4) });
    const rows = cond.forClasses(Int32Array.from({ length: 10 }, (_, k) => k));
    const opt = new Adam(model.namedParameters().filter(([n]) => !n.startsWith('image.head.')), { lr: 1e-2 });
    const losses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const loss = model.contrastiveLoss(model.encodeImages(images), model.encodeTexts(rows));
      losses.push(loss.item());
      opt.zeroGrad();
      loss.backward();
      opt.step();
    }
    expect(losses[0]).to.be.closeTo(Math.log(10), 0.5); // about chance at the start
    expect(losses[39], losses.map((l) => l.toFixed(2)).join(' ')).to.be.below(losses[0] * 0.5);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-ddpm-clip-')), 'clip.safetensors');
    saveClip(file, model, cond, { dataset: 'test' });
    const loaded = loadClip(file);
    const want = clipCosines(model, images.toArray(), [10, 1, 8, 8], rows);
    expect(Array.from(clipCosines(loaded.model, images.toArray(), [10, 1, 8, 8], rows))).to.deep.equal(Array.from(want));
    expect(loaded.conditioner.tokenizer.vocab).to.deep.equal(cond.tokenizer.vocab);
  });

  it('permutation is a seeded shuffle of 0..n-1', () => {
    const p = permutation(50, 3);
    expect(Array.from(p).sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
    expect(Array.from(permutation(50, 3))).to.deep.equal(Array.from(p));
    expect(Array.from(p)).to.not.deep.equal(Array.from({ length: 50 }, (_, i) => i));
  });

  for (const [args, pattern] of [
    [['clip-score'], /clip-score: give --samples <folder of PNGs> or --real/],
    [['clip-score', '--real', '--clip', '/nonexistent/clip.safetensors'], /clip-score: no CLIP model at '\/nonexistent\/clip.safetensors'/],
    [['clip-score', '--samples', '.', '--prompt', 'a', '--prompts', 'b'], /give --prompt or --prompts, not both/],
    [['clip', '--steps', '0'], /clip: --steps must be an integer >= 1, got 0/],
  ] as [string[], RegExp][]) {
    it(`rejects: tiny-ddpm ${args.join(' ')}`, async () => {
      const chunks: string[] = [];
      const orig = process.stderr.write.bind(process.stderr);
      (process.stderr as unknown as { write: unknown }).write = (s: string) => (chunks.push(String(s)), true);
      let code: number;
      try {
        code = await main(args);
      } finally {
        (process.stderr as unknown as { write: unknown }).write = orig;
      }
      expect(code).to.equal(2);
      expect(chunks.join('')).to.match(pattern);
      expect(chunks.join('').trim().split('\n').length).to.equal(1);
    });
  }
});
