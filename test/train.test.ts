/**
 * [unit 6: training] The trainer on a tiny UNet and tiny images (reference backend):
 * the loss falls on a fixed batch, a resumed run equals an uninterrupted one bit for bit,
 * a non-finite loss stops the run without touching the last good checkpoint, and the
 * command line rejects bad arguments with one clear line.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { tensor, randn, Generator } from '../src';
import type { ImageDataset } from '../src/data/dataset';
import { NoiseSchedule, addNoise, DdimSampler, sample } from '../src/diffusion';
import { noGrad } from '../src/autograd';
import { createUNet, type UNetConfig } from '../src/nn/unet';
import { Adam } from '../src/optim/adam';
import { mseLoss } from '../src/ops/loss';
import { buildRun, DEFAULT_TRAIN_CONFIG, dropLabels, train, type TrainConfig } from '../src/train/trainer';
import { ClipModel } from '../src/clip/model';
import { saveClip } from '../src/clip/train';
import { TextConditioner } from '../src/train/condition';
import { readSafetensors } from '../src/checkpoint/safetensors';
import { exportSamplingCheckpoint, loadModelWeights } from '../src/checkpoint/training';
import { readImagePng } from '../src/image/png';
import { main } from '../src/cli/main';
import { readSampleLabels } from '../src/cli/eval';
import { accumulateGradients, autoWorkers, DataParallel } from '../src/train/parallel';

const TINY: UNetConfig = { inChannels: 1, baseChannels: 8, channelMults: [1, 2], numResBlocks: 1, attnLevels: [], midAttention: true, timeFeatures: 8, timeDim: 16, groups: 4 };

/** 24 images of 1x8x8: bright squares at different places (values in [0, 1]). */
function squares(fill = (i: number, p: number) => p): ImageDataset {
  const n = 24;
  const images = new Float32Array(n * 64);
  for (let i = 0; i < n; i++) {
    const r = i % 5;
    const c = (i * 3) % 5;
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) images[i * 64 + y * 8 + x] = fill(i, y >= r && y < r + 3 && x >= c && x < c + 3 ? 1 : 0);
  }
  return { name: 'squares', images, labels: new Int32Array(n), n, channels: 1, height: 8, width: 8, numClasses: 1 };
}

/** Run `fn` with stderr swallowed (the command line's progress lines). */
async function withStderr<T>(fn: () => Promise<T>): Promise<T> {
  const orig = process.stderr.write.bind(process.stderr);
  (process.stderr as unknown as { write: unknown }).write = () => true;
  try {
    return await fn();
  } finally {
    (process.stderr as unknown as { write: unknown }).write = orig;
  }
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-ddpm-train-'));
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
const baseConfig = { model: TINY, batchSize: 4, steps: 4, warmup: 0, checkpointEvery: 2, sampleEvery: 0, numSamples: 4, sampleSteps: 3, timesteps: 50, lr: 1e-3 };

describe('[unit 6: training] DDPM trainer', function () {
  this.timeout(120000);

  it('a few Adam steps lower the loss on a fixed batch (Algorithm 1 with t and noise held fixed)', () => {
    const model = createUNet(TINY, { generator: new Generator(3) });
    const opt = new Adam(model.namedParameters(), { lr: 3e-3 });
    const s = new NoiseSchedule({ numTimesteps: 50 });
    const ds = squares();
    const x0 = tensor(ds.images.slice(0, 4 * 64).map((v) => v * 2 - 1), [4, 1, 8, 8]);
    const noise = randn([4, 1, 8, 8], { generator: new Generator(1) });
    const t = [3, 10, 25, 40];
    const xt = addNoise(s, x0, noise, t);
    const losses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const loss = mseLoss(model.forward(xt, t), noise);
      losses.push(loss.item());
      opt.zeroGrad();
      loss.backward();
      opt.step();
    }
    expect(losses[11]).to.be.below(losses[0] * 0.7);
  });

  it('writes a checkpoint, a loss log, a loss plot and sample grids', async () => {
    const out = tmp();
    const r = await train({ ...baseConfig, dataset: squares(), outDir: out, steps: 3 }, { stream: quiet });
    expect(r.stopped).to.equal('done');
    expect(r.step).to.equal(3);
    for (const f of ['checkpoint.safetensors', 'loss.csv', 'loss.png', 'samples.png', 'reverse_process.png', 'config.json', 'samples/step_000003.png']) {
      expect(fs.existsSync(path.join(out, f)), f).to.equal(true);
    }
    const rows = fs.readFileSync(path.join(out, 'loss.csv'), 'utf8').trim().split('\n');
    expect(rows[0]).to.equal('step,loss,smoothed_loss,lr,elapsed_s');
    expect(rows.slice(1).map((r) => Number(r.split(',')[0]))).to.deep.equal([1, 2, 3]);
    expect(Number(readSafetensors(path.join(out, 'checkpoint.safetensors')).metadata.step)).to.equal(3);
  });

  it('export keeps the EMA weights and the config: sample reads them as from the checkpoint, --resume and --weights model refuse it', async () => {
    const out = tmp();
    await train({ ...baseConfig, dataset: squares(), outDir: out, steps: 2 }, { stream: quiet });
    const ckpt = path.join(out, 'checkpoint.safetensors');
    const exported = path.join(out, 'export.safetensors');
    const r = exportSamplingCheckpoint(ckpt, exported, { note: 'test' });
    const full = readSafetensors(ckpt);
    const cut = readSafetensors(exported);
    expect(Object.keys(cut.tensors).sort()).to.deep.equal(Object.keys(full.tensors).filter((n) => n.startsWith('ema.')).sort());
    expect(r.parameters).to.equal(Object.entries(full.tensors).filter(([n]) => n.startsWith('model.')).reduce((k, [, t]) => k + t.data.length, 0));
    expect(fs.statSync(exported).size).to.be.below(fs.statSync(ckpt).size / 2.5); // weights + EMA + Adam's two moments -> EMA alone
    expect(cut.metadata.config).to.equal(full.metadata.config);
    expect(JSON.parse(cut.metadata.extra).exported).to.deep.equal({ from: ckpt, weights: 'ema', note: 'test' });
    // the same EMA weights, bit for bit, loaded from either file
    const a = createUNet(TINY, { numClasses: 1 });
    const b = createUNet(TINY, { numClasses: 1, generator: new Generator(77) });
    expect(loadModelWeights(ckpt, a).source).to.equal('ema');
    expect(loadModelWeights(exported, b).source).to.equal('ema');
    for (const [name, p] of a.namedParameters()) expect(Array.from(b.stateDict()[name].toArray()), name).to.deep.equal(Array.from(p.toArray()));
    expect(() => loadModelWeights(exported, a, { prefer: 'model' })).to.throw(`'${exported}' holds only the EMA weights of its run (tiny-ddpm export): sample it with --weights ema`);
    const before = fs.readdirSync(out).sort();
    let err: Error | null = null;
    await train({ ...baseConfig, dataset: squares(), outDir: out, steps: 4, resume: exported }, { stream: quiet }).catch((e) => (err = e));
    expect(err!.message).to.equal(`train: --resume: '${exported}' holds only the EMA weights of a run (tiny-ddpm export), for sampling: it has no optimizer state or data position to continue from`);
    expect(fs.readdirSync(out).sort()).to.deep.equal(before);
  });

  it('resuming gives the same weights as an uninterrupted run of the same length', async () => {
    const straight = tmp();
    await train({ ...baseConfig, dataset: squares(), outDir: straight }, { stream: quiet });
    const split = tmp();
    const first = await train({ ...baseConfig, dataset: squares(), outDir: split }, { stream: quiet, shouldStop: () => true });
    expect(first.stopped).to.equal('interrupted');
    expect(first.step).to.equal(1);
    const second = await train({ ...baseConfig, dataset: squares(), outDir: split, resume: true }, { stream: quiet });
    expect(second.step).to.equal(4);
    const a = readSafetensors(path.join(straight, 'checkpoint.safetensors'));
    const b = readSafetensors(path.join(split, 'checkpoint.safetensors'));
    const names = Object.keys(a.tensors).filter((n) => n.startsWith('model.') || n.startsWith('ema.') || n.startsWith('optim.'));
    expect(names.length).to.be.greaterThan(10);
    for (const n of names) expect(Buffer.from(b.tensors[n].data.buffer).equals(Buffer.from(a.tensors[n].data.buffer)), n).to.equal(true);
    // the loss log lists every step once
    const steps = fs.readFileSync(path.join(split, 'loss.csv'), 'utf8').trim().split('\n').slice(1).map((r) => Number(r.split(',')[0]));
    expect(steps).to.deep.equal([1, 2, 3, 4]);
  });

  it('a non-finite loss stops the run and leaves the last good checkpoint untouched', async () => {
    const out = tmp();
    await train({ ...baseConfig, dataset: squares(), outDir: out, steps: 2 }, { stream: quiet });
    const file = path.join(out, 'checkpoint.safetensors');
    const before = fs.readFileSync(file);
    const broken = squares(() => NaN); // same shape and size, so the checkpoint resumes into it
    const lines: string[] = [];
    const capture = { write: (s: string) => lines.push(s), isTTY: false } as unknown as NodeJS.WriteStream;
    const r = await train({ ...baseConfig, dataset: broken, outDir: out, steps: 4, resume: true }, { stream: capture });
    expect(r.stopped).to.equal('nonfinite');
    expect(r.step).to.equal(2);
    expect(lines.join('')).to.match(/the loss became NaN at step 3; stopping without saving/);
    expect(fs.readFileSync(file).equals(before)).to.equal(true);
  });

  it('data parallelism over 2 threads gives the same training as 1 thread (up to float32 summation order)', async () => {
    const one = tmp();
    await train({ ...baseConfig, dataset: squares(), outDir: one, steps: 2, workers: 1 }, { stream: quiet });
    const two = tmp();
    const r = await train({ ...baseConfig, dataset: squares(), outDir: two, steps: 2, workers: 2 }, { stream: quiet });
    expect(r.step).to.equal(2);
    const a = readSafetensors(path.join(one, 'checkpoint.safetensors'));
    const b = readSafetensors(path.join(two, 'checkpoint.safetensors'));
    const lossesOf = (dir: string) => fs.readFileSync(path.join(dir, 'loss.csv'), 'utf8').trim().split('\n').slice(1).map((row) => Number(row.split(',')[1]));
    const [l1, l2] = [lossesOf(one), lossesOf(two)];
    l1.forEach((l, i) => expect(l2[i]).to.be.closeTo(l, 1e-5 * Math.abs(l)));
    let worst = 0;
    for (const n of Object.keys(a.tensors).filter((k) => k.startsWith('model.'))) {
      const x = a.tensors[n].data;
      const y = b.tensors[n].data;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
    }
    // two Adam steps of lr 1e-3 move a weight by ~2e-3; the threads only change summation order
    expect(worst).to.be.below(1e-4);
  });

  it('accumulateGradients: passes of 1 and 3 images give the gradients and loss of one pass (Adam would hide a wrong scale, so the gradients themselves)', () => {
    const model = createUNet(TINY, { generator: new Generator(4) });
    const schedule = new NoiseSchedule({ numTimesteps: 50 });
    const ds = squares();
    const x0 = tensor(ds.images.slice(0, 5 * 64).map((v) => v * 2 - 1), [5, 1, 8, 8]);
    const noise = randn([5, 1, 8, 8], { generator: new Generator(2) });
    const t = Int32Array.from([3, 10, 25, 40, 49]);
    const gradsOf = (microBatch: number, weight: number) => {
      model.zeroGrad();
      const loss = accumulateGradients(model, schedule, x0, t, noise, microBatch, weight);
      return { loss, grads: model.parameters().map((p) => p.grad!.toArray()) };
    };
    const one = gradsOf(5, 0.5);
    for (const mb of [1, 3]) {
      const r = gradsOf(mb, 0.5);
      expect(r.loss).to.be.closeTo(one.loss, 1e-6);
      r.grads.forEach((g, k) => g.forEach((v, i) => expect(v, `micro-batch ${mb}, parameter ${k}[${i}]`).to.be.closeTo(one.grads[k][i], 1e-5 + 1e-4 * Math.abs(one.grads[k][i]))));
    }
    // and the weight scales them: 0.5 of the unweighted gradients
    const full = gradsOf(5, 1);
    full.grads[0].forEach((v, i) => expect(one.grads[0][i]).to.be.closeTo(0.5 * v, 1e-6 + 1e-5 * Math.abs(v)));
  });

  it('micro-batches: passes of 1 or 3 images (one thread, and two) give the step of one pass over the batch, up to float32 rounding', async () => {
    const runs: Record<string, string> = {};
    for (const [name, microBatch, workers] of [['one pass', 4, 1], ['passes of 1', 1, 1], ['passes of 3 (4 = 3 + 1)', 3, 1], ['2 threads, passes of 1', 1, 2]] as [string, number, number][]) {
      runs[name] = tmp();
      await train({ ...baseConfig, dataset: squares(), outDir: runs[name], steps: 2, microBatch, workers }, { stream: quiet });
    }
    const lossesOf = (dir: string) => fs.readFileSync(path.join(dir, 'loss.csv'), 'utf8').trim().split('\n').slice(1).map((row) => Number(row.split(',')[1]));
    const base = readSafetensors(path.join(runs['one pass'], 'checkpoint.safetensors')).tensors;
    for (const name of Object.keys(runs).slice(1)) {
      const l = lossesOf(runs[name]);
      lossesOf(runs['one pass']).forEach((v, i) => expect(l[i], `${name}: loss ${i}`).to.be.closeTo(v, 1e-5 * Math.abs(v)));
      const other = readSafetensors(path.join(runs[name], 'checkpoint.safetensors')).tensors;
      let worst = 0;
      for (const n of Object.keys(base).filter((k) => k.startsWith('model.'))) {
        base[n].data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - other[n].data[i]))));
      }
      // two Adam steps of lr 1e-3 move a weight by ~2e-3; the passes only change rounding
      expect(worst, name).to.be.below(1e-4);
    }
  });

  it('sampling on 2 threads: the parallel noise predictor equals the model, and so do the DDIM samples', async () => {
    const model = createUNet(TINY, { generator: new Generator(5) });
    model.eval();
    const schedule = new NoiseSchedule({ numTimesteps: 50 });
    const parallel = new DataParallel(2, 'ref', model, schedule);
    try {
      const predict = parallel.predictor(model);
      for (const batch of [5, 1]) {
        const x = randn([batch, 1, 8, 8], { generator: new Generator(batch) });
        const t = tensor(Array.from({ length: batch }, (_, i) => (i * 13) % 50), [batch]);
        const want = noGrad(() => model.forward(x, t)).toArray();
        const got = noGrad(() => predict(x, t));
        expect(got.shape).to.deep.equal([batch, 1, 8, 8]);
        const g = got.toArray();
        want.forEach((v, i) => expect(g[i]).to.be.closeTo(v, 1e-5 * (1 + Math.abs(v))));
      }
      // a whole DDIM run (the weights were sent with the first request and are reused)
      const sampler = new DdimSampler(schedule, { numSteps: 4 });
      const one = sample((x, t) => model.forward(x, t), sampler, [3, 1, 8, 8], { generator: new Generator(9) }).toArray();
      const two = sample(predict, sampler, [3, 1, 8, 8], { generator: new Generator(9) }).toArray();
      one.forEach((v, i) => expect(two[i]).to.be.closeTo(v, 1e-4));
    } finally {
      await parallel.close();
    }
  });

  it('tiny-ddpm sample --workers 2 writes the same images as --workers 1', async () => {
    const out = tmp();
    await train({ ...baseConfig, dataset: squares(), outDir: out, steps: 2 }, { stream: quiet });
    const ckpt = path.join(out, 'checkpoint.safetensors');
    const pixels = async (workers: string) => {
      const dir = path.join(out, `sampled-${workers}`);
      const code = await withStderr(() => main(['sample', '--checkpoint', ckpt, '--n', '3', '--steps', '3', '--backend', 'ref', '--workers', workers, '--out', dir]));
      expect(code).to.equal(0);
      return fs.readdirSync(path.join(dir, 'images')).sort().map((f) => Array.from(readImagePng(path.join(dir, 'images', f)).data));
    };
    const [one, two] = [await pixels('1'), await pixels('2')];
    expect(two.length).to.equal(3);
    // pixels in [0, 1] from 8-bit PNGs: the threads change float32 rounding only, so at most one level (1/255) apart
    one.forEach((img, k) => img.forEach((v, i) => expect(Math.abs(two[k][i] - v)).to.be.at.most(1 / 255 + 1e-6)));
  });

  it('--keep-every keeps a copy of the checkpoint at those steps, identical to the checkpoint written then', async () => {
    const out = tmp();
    await train({ ...baseConfig, dataset: squares(), outDir: out, steps: 3, checkpointEvery: 2, keepEvery: 1 }, { stream: quiet });
    const kept = fs.readdirSync(path.join(out, 'checkpoints')).sort();
    expect(kept).to.deep.equal(['step_000001.safetensors', 'step_000002.safetensors', 'step_000003.safetensors']);
    // the last copy is the final checkpoint; the first one resumes into a run equal to an uninterrupted one
    expect(fs.readFileSync(path.join(out, 'checkpoints', 'step_000003.safetensors')).equals(fs.readFileSync(path.join(out, 'checkpoint.safetensors')))).to.equal(true);
    const again = tmp();
    await train({ ...baseConfig, dataset: squares(), outDir: again, steps: 3, checkpointEvery: 2, resume: path.join(out, 'checkpoints', 'step_000001.safetensors') }, { stream: quiet });
    const a = readSafetensors(path.join(out, 'checkpoint.safetensors')).tensors;
    const b = readSafetensors(path.join(again, 'checkpoint.safetensors')).tensors;
    for (const n of Object.keys(a).filter((k) => k.startsWith('model.'))) expect(Array.from(b[n].data), n).to.deep.equal(Array.from(a[n].data));
  });

  it('--workers auto: one thread per core on the gpu.js CPU modes, capped by the batch; 1 on GL and ref', () => {
    expect(autoWorkers('gpujs-webasm', 32, 2)).to.equal(2);
    expect(autoWorkers('gpujs-cpu', 32, 8)).to.equal(8);
    expect(autoWorkers('gpujs-webasm', 3, 8)).to.equal(3);
    expect(autoWorkers('gpujs-webasm', 32, 1)).to.equal(1);
    expect(autoWorkers('gpujs-gpu', 32, 8)).to.equal(1);
    expect(autoWorkers('ref', 32, 8)).to.equal(1);
  });

  it('validates its configuration', async () => {
    let err: Error | null = null;
    try {
      await train({ ...baseConfig, dataset: squares(), outDir: tmp(), batchSize: 100 }, { stream: quiet });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/batch size 100 is larger than the dataset \(24 images\)/);
  });
});

describe('[unit 6: training] command line', () => {
  async function run(args: string[]): Promise<{ code: number; err: string }> {
    const chunks: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    (process.stderr as unknown as { write: unknown }).write = (s: string) => (chunks.push(String(s)), true);
    try {
      const code = await main(args);
      return { code, err: chunks.join('') };
    } finally {
      (process.stderr as unknown as { write: unknown }).write = orig;
    }
  }

  for (const [args, pattern] of [
    [['train', '--batch-size', '0'], /train: --batch-size must be an integer >= 1, got 0/],
    [['train', '--model', 'unet-huge'], /unknown --model 'unet-huge'; valid presets: unet-tiny, unet-mini, unet-14, unet-latent/],
    [['train', '--steps', 'many'], /--steps must be an integer >= 1, got NaN/],
    [['train', '--lr', '5'], /--lr must be in \(0, 1\)/],
    [['train', '--workers', '0'], /--workers must be an integer >= 1, got 0/],
    [['train', '--workers', 'many'], /--workers must be an integer >= 1, got NaN/],
    [['train', '--keep-every', '-5'], /--keep-every must be an integer >= 0, got -5/],
    [['train', '--micro-batch', '0'], /--micro-batch must be an integer >= 1, got 0/],
    [['train', '--t-sampling', 'log-snr-normal', '--t-log-snr-std', '0'], /train: --t-log-snr-std must be a finite number > 0, got 0/],
    [['train', '--backend', 'tpu'], /unknown backend "tpu"/],
    [['sample', '--checkpoint', '/nonexistent/ckpt.safetensors'], /sample: no checkpoint at '\/nonexistent\/ckpt.safetensors'/],
    [['export', '--checkpoint', '/nonexistent/ckpt.safetensors', '--out', 'x.safetensors'], /export: no checkpoint at '\/nonexistent\/ckpt.safetensors'/],
    [['export', '--checkpoint', 'package.json', '--out', 'package.json'], /export: --out 'package.json' is the checkpoint itself/],
    [['noise', '--index', '-1'], /noise: --index must be an integer in \[0, 10000\)/],
    [['fly'], /Unknown argument: fly/],
  ] as [string[], RegExp][]) {
    it(`rejects: tiny-ddpm ${args.join(' ')}`, async () => {
      const { code, err } = await run(args);
      expect(code).to.equal(2);
      expect(err).to.match(pattern);
      expect(err.trim().split('\n').length, err).to.be.at.most(2); // one line (+ a usage hint), no stack trace
    });
  }
});

describe('[unit 6: training] the recipe switches and class conditioning', function () {
  this.timeout(120000);
  /** squares with two classes: even images class 0, odd class 1 */
  const twoClasses = (): ImageDataset => ({ ...squares(), labels: Int32Array.from({ length: 24 }, (_, i) => i % 2), numClasses: 2 });
  const HO: Partial<TrainConfig> = { condition: 'none', prediction: 'eps', lossWeighting: 'none', lrDecay: 'constant' };

  for (const [name, extra] of [
    ['v, min-SNR, cosine decay, class-conditional (the defaults)', {}],
    ["Ho et al.'s eps, unweighted, constant lr, unconditional", HO],
    ['x0, min-SNR-1, class-conditional without dropout', { prediction: 'x0', snrGamma: 1, condDropout: 0 }],
    ['unconditional v with t drawn from ln SNR ~ N(1, 1.5^2)', { condition: 'none', timestepSampling: 'log-snr-normal', tLogSnrMean: 1, tLogSnrStd: 1.5 }],
    ['text-conditional (captions drawn per image, 10% empty prompts)', { condition: 'text', textEncoder: 'scratch', textDim: 8, textLayers: 1, textHeads: 2 }],
  ] as [string, Partial<TrainConfig>][]) {
    it(`resumes exactly: ${name}`, async () => {
      const cfg = { ...baseConfig, ...extra, dataset: twoClasses() };
      const straight = tmp();
      await train({ ...cfg, outDir: straight }, { stream: quiet });
      const split = tmp();
      await train({ ...cfg, outDir: split }, { stream: quiet, shouldStop: () => true });
      await train({ ...cfg, outDir: split, resume: true }, { stream: quiet });
      const a = readSafetensors(path.join(straight, 'checkpoint.safetensors')).tensors;
      const b = readSafetensors(path.join(split, 'checkpoint.safetensors')).tensors;
      const names = Object.keys(a).filter((n) => n.startsWith('model.') || n.startsWith('ema.') || n.startsWith('optim.'));
      expect(names.includes('model.class_emb.weight')).to.equal(extra.condition === undefined || extra.condition === 'class');
      expect(names.includes('model.text_proj.weight')).to.equal(extra.condition === 'text');
      for (const n of names) expect(Buffer.from(b[n].data.buffer).equals(Buffer.from(a[n].data.buffer)), n).to.equal(true);
    });
  }

  it('--lr-decay cosine: the logged lr follows warmup then (1 + cos(pi p)) / 2 down towards 0 at the last step', async () => {
    const out = tmp();
    await train({ ...baseConfig, dataset: squares(), outDir: out, steps: 6, warmup: 2, lr: 1e-3 }, { stream: quiet });
    const lrs = fs.readFileSync(path.join(out, 'loss.csv'), 'utf8').trim().split('\n').slice(1).map((r) => Number(r.split(',')[3]));
    const want = [0, 1, 2, 3, 4, 5].map((s) => (s < 2 ? (1e-3 * (s + 1)) / 2 : (1e-3 * (1 + Math.cos((Math.PI * (s - 2)) / 4))) / 2));
    lrs.forEach((v, i) => expect(v, `step ${i}`).to.be.closeTo(want[i], 1e-12));
  });

  it('dropLabels replaces about p of the classes by the null class, the same ones for the same seed', () => {
    const labels = Int32Array.from({ length: 10000 }, (_, i) => i % 10);
    const a = dropLabels(labels, 0.1, 10, new Generator(4));
    const b = dropLabels(labels, 0.1, 10, new Generator(4));
    expect(Array.from(a)).to.deep.equal(Array.from(b));
    const dropped = a.filter((y) => y === 10).length;
    expect(dropped).to.be.within(900, 1100); // binomial(10000, 0.1): mean 1000, sd 30
    a.forEach((y, i) => expect(y === 10 || y === labels[i]).to.equal(true));
    expect(Array.from(dropLabels(labels.slice(0, 5), 0, 10, new Generator(1)))).to.deep.equal([0, 1, 2, 3, 4]);
    expect(Array.from(dropLabels(labels.slice(0, 5), 1, 10, new Generator(1)))).to.deep.equal([10, 10, 10, 10, 10]);
  });

  it('resuming with another --condition or --prediction fails, naming both', async () => {
    const out = tmp();
    await train({ ...baseConfig, dataset: twoClasses(), outDir: out, steps: 1 }, { stream: quiet });
    const ckpt = path.join(out, 'checkpoint.safetensors');
    const before = fs.readFileSync(ckpt);
    for (const [extra, pattern] of [
      [{ condition: 'none' }, /was trained with --condition class, but this run asks for --condition none/],
      [{ prediction: 'eps' }, /was trained with --prediction v, but this run asks for --prediction eps/],
      [{ condition: 'text' }, /was trained with --condition class, but this run asks for --condition text/],
    ] as [Partial<TrainConfig>, RegExp][]) {
      let err: Error | null = null;
      try {
        await train({ ...baseConfig, ...extra, dataset: twoClasses(), outDir: out, steps: 2, resume: true }, { stream: quiet });
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).to.match(pattern);
      expect(fs.readFileSync(ckpt).equals(before)).to.equal(true);
    }
  });

  describe('--condition text from a CLIP text tower (--text-encoder clip, clip-tuned)', () => {
    /** a small CLIP-style model of the two-class dataset, saved like `tiny-ddpm clip` saves one */
    let clipFile = '';
    let tower: Map<string, Float32Array>;
    before(() => {
      const cond = TextConditioner.forDataset(twoClasses());
      const clip = new ClipModel({
        image: { inChannels: 1, imageSize: 8, channels: [4, 4], featureDim: 8, numClasses: 2 },
        text: { vocabSize: cond.tokenizer.size, maxLength: cond.tokenizer.maxLength, dim: 8, layers: 1, heads: 2 },
        embedDim: 8,
      }, { generator: new Generator(77) });
      clipFile = path.join(tmp(), 'two-clip.safetensors');
      saveClip(clipFile, clip, cond, { dataset: 'two classes' });
      tower = new Map(clip.text.namedParameters().map(([n, p]) => [n, p.toArray()]));
    });
    const textRun = (extra: Partial<TrainConfig>): Partial<TrainConfig> => ({ ...baseConfig, condition: 'text', clipModel: clipFile, textDim: 8, textLayers: 1, textHeads: 2, dataset: twoClasses(), steps: 3, ...extra });
    const saved = (out: string) => readSafetensors(path.join(out, 'checkpoint.safetensors')).tensors;
    const towerNames = () => [...tower.keys()].map((n) => `model.text_encoder.${n}`);

    it('clip: the tower is the CLIP model\'s, bit for bit, after training; the rest trains; the optimizer holds no state for it', async () => {
      const out = tmp();
      await train(textRun({ textEncoder: 'clip', outDir: out }), { stream: quiet });
      const t = saved(out);
      for (const [n, want] of tower) expect(Array.from(t[`model.text_encoder.${n}`].data as Float32Array), n).to.deep.equal(Array.from(want));
      expect(Object.keys(t).some((n) => n.startsWith('optim.') && n.includes('text_encoder'))).to.equal(false);
      // text_proj starts at zero and must have moved
      expect(Array.from(t['model.text_proj.weight'].data as Float32Array).some((v) => v !== 0)).to.equal(true);
      expect(Object.keys(t).some((n) => n.startsWith('optim.') && n.includes('text_proj'))).to.equal(true);
    });

    it('clip-tuned: the tower starts as the CLIP model\'s and is trained on; scratch starts elsewhere', async () => {
      const r = buildRun({ ...DEFAULT_TRAIN_CONFIG, ...textRun({ textEncoder: 'clip-tuned' }) } as TrainConfig, twoClasses());
      for (const [n, p] of r.model.textEncoder!.namedParameters()) {
        expect(Array.from(p.toArray()), n).to.deep.equal(Array.from(tower.get(n)!));
        expect(p.requiresGrad, n).to.equal(true);
      }
      const scratch = buildRun({ ...DEFAULT_TRAIN_CONFIG, ...textRun({ textEncoder: 'scratch' }) } as TrainConfig, twoClasses());
      expect(Array.from(scratch.model.textEncoder!.namedParameters()[0][1].toArray())).to.not.deep.equal(Array.from(tower.get('token_emb.weight')!));
      // the rest of the UNet is drawn alike whichever start the text encoder has
      expect(Array.from(r.model.namedParameters()[0][1].toArray())).to.deep.equal(Array.from(scratch.model.namedParameters()[0][1].toArray()));
      const out = tmp();
      await train(textRun({ textEncoder: 'clip-tuned', outDir: out }), { stream: quiet });
      const t = saved(out);
      expect(towerNames().some((n) => !Buffer.from(t[n].data.buffer).equals(Buffer.from(tower.get(n.slice('model.text_encoder.'.length))!.buffer)))).to.equal(true);
    });

    it('the same tower on 2 worker threads: the frozen weights stay bit for bit, and the run matches one thread', async () => {
      const one = tmp();
      const two = tmp();
      await train(textRun({ textEncoder: 'clip', outDir: one, steps: 2 }), { stream: quiet });
      await train(textRun({ textEncoder: 'clip', outDir: two, steps: 2, workers: 2 }), { stream: quiet });
      const a = saved(one);
      const b = saved(two);
      for (const n of towerNames()) expect(Buffer.from(b[n].data.buffer).equals(Buffer.from(a[n].data.buffer)), n).to.equal(true);
      const w = 'model.text_proj.weight';
      Array.from(b[w].data as Float32Array).forEach((v, i) => expect(v, `${w}[${i}]`).to.be.closeTo((a[w].data as Float32Array)[i], 1e-4));
    });

    it('bad input: no CLIP model, a tower of another width, another class count, resuming with another start: one clear error, nothing written', async () => {
      const out = tmp();
      for (const [extra, pattern] of [
        [{ clipModel: path.join(out, 'nope.safetensors') }, /train: --text-encoder clip: no CLIP model at '.*nope\.safetensors'; train one with tiny-ddpm clip --dataset .*, name one with --clip-model, or pass --text-encoder scratch/],
        [{ textDim: 16, textHeads: 2 }, /train: --text-dim 16 does not match the CLIP text tower of '.*two-clip\.safetensors' \(--text-dim 8\); drop --text-dim, or pass --text-encoder scratch/],
        [{ dataset: { ...twoClasses(), numClasses: 3 } }, /train: --text-encoder clip: the CLIP model '.*' knows 2 classes, but the dataset has 3/],
      ] as [Partial<TrainConfig>, RegExp][]) {
        let err: Error | null = null;
        try {
          await train(textRun({ outDir: path.join(out, 'never'), ...extra }), { stream: quiet });
        } catch (e) {
          err = e as Error;
        }
        expect(err?.message).to.match(pattern);
        expect(fs.existsSync(path.join(out, 'never'))).to.equal(false);
      }
      const run = tmp();
      await train(textRun({ textEncoder: 'clip', outDir: run, steps: 1 }), { stream: quiet });
      const ckpt = path.join(run, 'checkpoint.safetensors');
      const before = fs.readFileSync(ckpt);
      let err: Error | null = null;
      try {
        await train(textRun({ textEncoder: 'clip-tuned', outDir: run, steps: 2, resume: true }), { stream: quiet });
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).to.match(/was trained with --text-encoder clip, but this run asks for --text-encoder clip-tuned/);
      expect(fs.readFileSync(ckpt).equals(before)).to.equal(true);
    });
  });

  describe('tiny-ddpm sample and eval on a class-conditional checkpoint', () => {
    let ckpt = '';
    let plainCkpt = '';
    before(async () => {
      const out = tmp();
      await train({ ...baseConfig, dataset: twoClasses(), outDir: out, steps: 1 }, { stream: quiet });
      ckpt = path.join(out, 'checkpoint.safetensors');
      const plain = tmp();
      await train({ ...baseConfig, ...HO, dataset: squares(), outDir: plain, steps: 1 }, { stream: quiet });
      plainCkpt = path.join(plain, 'checkpoint.safetensors');
    });
    const runCli = async (args: string[]) => {
      const chunks: string[] = [];
      const orig = process.stderr.write.bind(process.stderr);
      (process.stderr as unknown as { write: unknown }).write = (s: string) => (chunks.push(String(s)), true);
      try {
        return { code: await main(args), err: chunks.join('') };
      } finally {
        (process.stderr as unknown as { write: unknown }).write = orig;
      }
    };

    it('--guidance 0,1,3 writes one folder per scale (same noise), labels.json with the asked classes, and guidance_grid.png', async () => {
      const out = path.join(tmp(), 'g');
      const { code, err } = await runCli(['sample', '--checkpoint', ckpt, '--n', '4', '--steps', '2', '--backend', 'ref', '--workers', '1', '--guidance', '0,1,3', '--out', out]);
      expect(code, err).to.equal(0);
      for (const w of ['0', '1', '3']) {
        const labels = JSON.parse(fs.readFileSync(path.join(out, `guidance_${w}`, 'labels.json'), 'utf8'));
        expect(labels).to.deep.equal({ labels: [0, 1, 0, 1], guidance: Number(w) });
        expect(fs.readdirSync(path.join(out, `guidance_${w}`, 'images')).length).to.equal(4);
      }
      // 2 classes -> 2 rows; 3 blocks of 2 images and 2 separators -> 8 columns
      const grid = readImagePng(path.join(out, 'guidance_grid.png'));
      expect(grid.w).to.be.above(grid.h * 3);
      // the scales differ, so the images differ
      const img = (w: string) => Array.from(readImagePng(path.join(out, `guidance_${w}`, 'images', 'sample_00000.png')).data);
      expect(img('0')).to.not.deep.equal(img('3'));
    });

    it('a text-conditional checkpoint: --prompt draws that prompt (its class recorded when it is a training caption), unknown words are one line', async () => {
      const out = tmp();
      await train({ ...baseConfig, condition: 'text', textEncoder: 'scratch', textDim: 8, textLayers: 1, textHeads: 2, dataset: twoClasses(), outDir: out, steps: 1 }, { stream: quiet });
      const textCkpt = path.join(out, 'checkpoint.safetensors');
      const dir = path.join(out, 'p');
      const { code, err } = await runCli(['sample', '--checkpoint', textCkpt, '--n', '4', '--steps', '2', '--backend', 'ref', '--workers', '1', '--prompt', 'a class 1|class 0', '--out', dir]);
      expect(code, err).to.equal(0);
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'labels.json'), 'utf8'))).to.deep.equal({ labels: [1, 0, 1, 0], guidance: 1.5, prompts: ['a class 1', 'class 0', 'a class 1', 'class 0'] });
      const never = path.join(out, 'never');
      const bad = await runCli(['sample', '--checkpoint', textCkpt, '--n', '2', '--steps', '2', '--backend', 'ref', '--prompt', 'a klass 1', '--out', never]);
      expect(bad.code).to.equal(2);
      expect(bad.err.trim().split('\n').filter((l) => !l.startsWith('backend:'))).to.have.length(1);
      expect(bad.err).to.match(/sample: --prompt: tokenizer: unknown word 'klass' in 'a klass 1'; nearest known words: class, .* \(vocabulary of \d+ words\)/);
      expect(fs.existsSync(never)).to.equal(false);
      // and a prompt on a class-conditional checkpoint
      const cls = await runCli(['sample', '--checkpoint', ckpt, '--n', '2', '--steps', '2', '--backend', 'ref', '--prompt', 'class 1', '--out', never]);
      expect(cls.code).to.equal(2);
      expect(cls.err).to.match(/sample: --prompt: '.*' is class-conditional \(trained with --condition class\), it takes a class \(--class\), not a prompt/);
      expect(fs.existsSync(never)).to.equal(false);
    });

    it('--class 1 asks every image for class 1', async () => {
      const out = path.join(tmp(), 's');
      const { code, err } = await runCli(['sample', '--checkpoint', ckpt, '--n', '3', '--steps', '2', '--backend', 'ref', '--workers', '1', '--class', '1', '--out', out]);
      expect(code, err).to.equal(0);
      // the run's own guidance (1.5, the default of train) when none is given
      expect(JSON.parse(fs.readFileSync(path.join(out, 'labels.json'), 'utf8'))).to.deep.equal({ labels: [1, 1, 1], guidance: 1.5 });
    });

    for (const [args, pattern, which] of [
      [['--class', '2'], /sample: --class must be a class of this checkpoint \(an integer in 0-1, or a comma list\), got '2'/, 'cond'],
      [['--class', 'seven'], /sample: --class must be a class of this checkpoint .*, got 'seven'/, 'cond'],
      [['--guidance', '-1'], /sample: --guidance must be a number >= 0 \(or a comma list of them\), got '-1'/, 'cond'],
      [['--guidance', 'NaN'], /sample: --guidance must be a number >= 0 .*, got 'NaN'/, 'cond'],
      [['--guidance', '2'], /sample: --guidance: '.*' is an unconditional checkpoint \(trained with --condition none\), it takes no class, prompt or guidance/, 'plain'],
      [['--prompt', 'seven'], /sample: --prompt: '.*' is an unconditional checkpoint/, 'plain'],
      [['--class', '0'], /sample: --class: '.*' is an unconditional checkpoint/, 'plain'],
    ] as [string[], RegExp, string][]) {
      it(`rejects sample ${args.join(' ')} on ${which === 'cond' ? 'a class-conditional' : 'an unconditional'} checkpoint, writing nothing`, async () => {
        const out = path.join(tmp(), 'never');
        const { code, err } = await runCli(['sample', '--checkpoint', which === 'cond' ? ckpt : plainCkpt, '--n', '2', '--steps', '2', '--backend', 'ref', '--out', out, ...args]);
        expect(code).to.equal(2);
        const lines = err.trim().split('\n').filter((l) => !l.startsWith('backend:'));
        expect(lines.length, err).to.equal(1);
        expect(lines[0]).to.match(pattern);
        expect(fs.existsSync(out)).to.equal(false);
      });
    }

    it('sample writes labels.json beside the images, which eval reads as the asked classes', async () => {
      const out = path.join(tmp(), 'e');
      await runCli(['sample', '--checkpoint', ckpt, '--n', '4', '--steps', '2', '--backend', 'ref', '--workers', '1', '--out', out]);
      expect(readSampleLabels(path.join(out, 'images'), undefined, 4)).to.deep.equal({ labels: [0, 1, 0, 1], guidance: 1.5 });
      expect(readSampleLabels(path.join(out, 'images'), undefined, 2)!.labels).to.deep.equal([0, 1]);
      expect(() => readSampleLabels(path.join(out, 'images'), undefined, 5)).to.throw(/lists 4 asked classes for 5 samples/);
      expect(() => readSampleLabels(path.join(out, 'images'), path.join(out, 'nope.json'), 4)).to.throw(/--labels: no file/);
      expect(readSampleLabels(path.join(tmp(), 'images'), undefined, 4)).to.equal(null);
    });
  });
});
