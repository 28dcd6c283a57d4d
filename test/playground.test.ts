/**
 * [playground] The browser playground (playground/): its engine in Node against the command
 * line and closed forms, then the page itself, built and served on localhost, in headless
 * Chromium (Debian's chromium, driven by playwright-core; .ci/run installs it). Without a
 * Chromium the page tests are skipped with a line saying so; CI fails instead of skipping.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Server } from 'http';
import type { Backend } from '../src/backend/backend';
import { getBackend, setBackend } from '../src/backend/registry';
import { serializeSafetensors } from '../src/checkpoint/safetensors';
import { sampleCommand } from '../src/cli/commands';
import { loadBundledMnist } from '../src/data/mnist-bundled';
import { NoiseSchedule } from '../src/diffusion/schedule';
import { readImagePng, valueToByte } from '../src/image/png';
import { createUNet } from '../src/nn/unet';
import { Generator } from '../src/random';
import { digitsDataset, loadPlaygroundModel, noiseImage, sampleFrames, startBackend, TabTraining, type SampleSettings } from '../playground/engine';
import { buildPlayground, HEADLESS_CHROMIUM_ARGS, servePlayground } from '../scripts/playground';

const root = path.join(__dirname, '..');
const SHIPPED = path.join(root, 'assets', 'mnist-ddpm.safetensors');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

function smallDigits(limit: number) {
  const d = loadBundledMnist({ split: 'train', limit });
  return digitsDataset(Uint8Array.from(d.images, (v) => Math.round(v * 255)), Uint8Array.from(d.labels));
}

/** Run the engine's frames to the end; returns the final samples and how many frames came. */
function drain(bytes: Uint8Array, settings: SampleSettings) {
  const frames = sampleFrames(loadPlaygroundModel(bytes, 'model.safetensors'), settings);
  let count = 0;
  for (let r = frames.next(); ; r = frames.next()) {
    if (r.done) return { x: r.value, frames: count };
    count++;
  }
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('[playground] the engine, in Node', function () {
  this.timeout(600000);
  let prev: Backend;
  let tmp: string;
  before(() => {
    prev = getBackend();
    startBackend('gpujs:webasm');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-ddpm-playground-'));
  });
  after(() => {
    setBackend(prev);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('noiseImage: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, pixel by pixel, with eps the seed\'s normals', () => {
    const schedule = new NoiseSchedule();
    const image = Float32Array.from({ length: 784 }, (_, i) => (i % 29) / 28);
    for (const t of [0, 250, 999]) {
      const r = noiseImage(schedule, image, [1, 28, 28], t, 5);
      const g = new Generator(5);
      const abar = schedule.alphasCumprod[t];
      const eps = Array.from({ length: 784 }, () => g.normal());
      const want = Array.from(image, (v, i) => Math.sqrt(abar) * (2 * v - 1) + Math.sqrt(1 - abar) * eps[i]);
      expect(maxAbsDiff(r.noise, eps)).to.be.below(1e-6);
      expect(maxAbsDiff(r.xt, want)).to.be.below(1e-5);
      expect(r.signalScale).to.be.closeTo(Math.sqrt(abar), 1e-12);
    }
    expect(() => noiseImage(schedule, image, [1, 28, 28], 1000, 0)).to.throw('t must be an integer in 0-999, got 1000');
  });

  it('loadPlaygroundModel: a bad file is one message that names it', () => {
    const bad = (bytes: Uint8Array) => () => loadPlaygroundModel(bytes, 'bad.safetensors');
    expect(bad(new Uint8Array([1, 2, 3]))).to.throw("'bad.safetensors' is not a safetensors file: it has 3 bytes");
    const weights = serializeSafetensors(createUNet('unet-mini').stateDict());
    expect(bad(weights)).to.throw("'bad.safetensors' is a safetensors file but not a tiny-ddpm checkpoint");
    expect(bad(weights.subarray(0, weights.length - 10))).to.throw("'bad.safetensors' is truncated");
    const run = new TabTraining({ steps: 1, batchSize: 2 }, smallDigits(8));
    const ckpt = run.checkpointBytes();
    // the same file with its config claiming a wider network: the weights do not fit
    const text = new TextDecoder().decode(ckpt.subarray(8, 8 + Number(new DataView(ckpt.buffer, ckpt.byteOffset).getBigUint64(0, true))));
    const lying = text.replace('\\"baseChannels\\":16', '\\"baseChannels\\":32');
    expect(lying).to.not.equal(text);
    const forged = new Uint8Array(ckpt.length);
    forged.set(ckpt.subarray(0, 8));
    forged.set(new TextEncoder().encode(lying), 8);
    forged.set(ckpt.subarray(8 + text.length), 8 + text.length);
    expect(bad(forged)).to.throw(/'bad\.safetensors' does not fit this UNet \(ema weights of a training checkpoint\): first mismatch/);
  });

  it('a tab run is deterministic, its fixed-batch loss falls in 10 steps, and `tiny-ddpm sample` reads its checkpoint and draws the pixels the page\'s frames give', async () => {
    const digits = smallDigits(256);
    const a = new TabTraining({ steps: 10, batchSize: 4 }, digits);
    const before = a.fixedBatchLoss();
    for (let i = 0; i < 10; i++) expect(a.trainStep().updated).to.equal(true);
    expect(a.done).to.equal(true);
    expect(a.fixedBatchLoss()).to.be.below(before * 0.95);
    const b = new TabTraining({ steps: 10, batchSize: 4 }, digits);
    for (let i = 0; i < 3; i++) b.trainStep();
    expect(b.losses).to.deep.equal(a.losses.slice(0, 3));

    const file = path.join(tmp, 'tab.safetensors');
    const bytes = a.checkpointBytes();
    fs.writeFileSync(file, bytes);
    const out = path.join(tmp, 'sampled');
    await sampleCommand({ checkpoint: file, n: 4, sampler: 'ddim', steps: 3, eta: 0, seed: 0, weights: 'ema', batchSize: 4, imageSize: 28, channels: 1, workers: 1, out }, () => {});
    const page = drain(bytes, { n: 4, sampler: 'ddim', steps: 3, eta: 0, seed: 0 });
    expect(page.frames).to.equal(4); // x_T and three steps
    for (let i = 0; i < 4; i++) {
      const png = readImagePng(path.join(out, 'images', `sample_0000${i}.png`)).data;
      const mine = Array.from(page.x.subarray(i * 784, (i + 1) * 784), (v) => valueToByte(v, [-1, 1]) / 255);
      expect(maxAbsDiff(png, mine), `image ${i}`).to.be.at.most(1 / 255 + 1e-6);
    }
  });

  it('sampleFrames: x_T first, then one frame per step with its predicted x_0; stopping early frees what it held', () => {
    const run = new TabTraining({ steps: 1, batchSize: 2 }, smallDigits(8));
    const m = loadPlaygroundModel(run.checkpointBytes(), 'tab.safetensors');
    const frames = sampleFrames(m, { n: 2, sampler: 'ddim', steps: 5, eta: 0, seed: 3 });
    const first = frames.next().value as { t: number | null; x: Float32Array; x0: Float32Array | null; total: number };
    expect(first.t).to.equal(null);
    expect(first.x0).to.equal(null);
    expect(first.total).to.equal(5);
    const g = new Generator(3);
    expect(maxAbsDiff(first.x, Array.from({ length: 2 * 784 }, () => g.normal()))).to.be.below(1e-6);
    const second = frames.next().value as { t: number; x0: Float32Array };
    expect(second.t).to.equal(800); // DDIM's 5 evenly spaced steps of T = 1000 are 800, 600, 400, 200, 0
    expect(second.x0.length).to.equal(2 * 784);
    frames.return(new Float32Array(0));
    expect(() => sampleFrames(m, { n: 2, sampler: 'ddim', steps: 5, eta: 0, seed: 0, classIndex: 10 }).next()).to.throw('class 10 is not a class of this model (0-9)');
  });
});

const haveChromium = fs.existsSync(CHROMIUM);

describe('[playground] the page, in headless Chromium', function () {
  this.timeout(900000);
  let server: Server;
  let browser: import('playwright-core').Browser;
  let url: string;
  let dir: string;
  let prev: Backend;

  before(async function () {
    if (!haveChromium) {
      if (process.env.CHROMIUM) throw new Error(`CHROMIUM=${CHROMIUM}: no such file (CI sets it, so that the page tests cannot skip quietly)`);
      console.log(`    (no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM; .ci/run installs it and does not skip)`);
      this.skip();
    }
    prev = getBackend();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-ddpm-page-'));
    await buildPlayground(dir);
    server = await servePlayground(dir, 0);
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: HEADLESS_CHROMIUM_ARGS });
  });
  after(async () => {
    await browser?.close();
    server?.close();
    if (prev) setBackend(prev);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function open(backend: string) {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}?backend=${backend}`);
    await page.waitForFunction(() => (window as any).playground.status !== 'starting', null, { timeout: 120000 });
    expect(errors, 'uncaught errors on the page').to.deep.equal([]);
    return page;
  }

  /** Sample on the page with these settings (the controls' values) and return what it drew. */
  async function sampleOnPage(page: import('playwright-core').Page, n: number, steps: number) {
    await page.fill('#sample-n', String(n));
    await page.fill('#sample-steps', String(steps));
    // clicked from a timer, so the test does not wait on the click while the first step compiles
    await page.evaluate(() => void setTimeout(() => document.getElementById('sample-run')!.click(), 0));
    await page.waitForFunction(() => (window as any).playground.lastSample || (window as any).playground.errors.length, null, { timeout: 600000, polling: 500 });
    const s = await page.evaluate(() => (window as any).playground);
    expect(s.errors).to.deep.equal([]);
    return s.lastSample as { settings: SampleSettings; x: number[]; msPerStep: number };
  }

  function nodeSamples(settings: SampleSettings, backend: string): Float32Array {
    startBackend(backend);
    try {
      return drain(fs.readFileSync(SHIPPED), settings).x;
    } finally {
      setBackend(prev);
    }
  }

  it('on gpujs:webasm it says so, loads the shipped checkpoint, and samples the pixels the Node library samples for the same seed', async () => {
    const page = await open('gpujs:webasm');
    expect(await page.textContent('#backend')).to.match(/^running on gpujs-webasm: the CPU through gpu\.js's WebAssembly mode/);
    expect(await page.textContent('#model-info')).to.match(/mnist-ddpm\.safetensors: a class-conditional \(10 classes\) UNet of 200,433 parameters predicting v/);
    const drawn = await sampleOnPage(page, 4, 3);
    expect(drawn.settings).to.include({ n: 4, steps: 3, seed: 0, sampler: 'ddim', eta: 0 });
    const mine = nodeSamples(drawn.settings, 'gpujs:webasm');
    expect(maxAbsDiff(drawn.x, mine)).to.be.below(1e-4);
    // and against the plain-TypeScript reference backend, which shares no kernel code with it
    expect(maxAbsDiff(drawn.x, nodeSamples(drawn.settings, 'ref'))).to.be.below(2e-3);
    await page.close();
  });

  it('on gpujs:gpu (WebGL; SwiftShader here) it samples the same pixels within float tolerance', async () => {
    const page = await open('gpujs:gpu');
    expect(await page.textContent('#backend')).to.match(/^running on gpujs-gpu: the GPU through gpu\.js's WebGL mode \(WebGL2? on /);
    const drawn = await sampleOnPage(page, 1, 1);
    expect(maxAbsDiff(drawn.x, nodeSamples(drawn.settings, 'ref'))).to.be.below(2e-3);
    await page.close();
  });

  it('trains a few steps in the tab (the fixed-batch loss falls), and the downloaded checkpoint is one `tiny-ddpm sample` reads', async () => {
    const page = await open('gpujs:webasm');
    await page.fill('#train-batch', '4');
    await page.fill('#train-steps', '10');
    await page.fill('#train-grid-every', '0');
    await page.evaluate(() => void setTimeout(() => document.getElementById('train-start')!.click(), 0));
    await page.waitForFunction(() => /^finished: 10 steps/.test(document.getElementById('train-status')!.textContent ?? '') || (window as any).playground.errors.length, null, { timeout: 600000, polling: 500 });
    const s = await page.evaluate(() => (window as any).playground);
    expect(s.errors).to.deep.equal([]);
    expect(s.losses).to.have.length(10);
    const fixed = s.fixedLosses as { step: number; loss: number }[];
    expect(fixed[0].step).to.equal(0);
    expect(fixed[fixed.length - 1].step).to.equal(10);
    expect(fixed[fixed.length - 1].loss).to.be.below(fixed[0].loss * 0.95);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#train-download')]);
    expect(download.suggestedFilename()).to.equal('playground-checkpoint.safetensors');
    const file = path.join(dir, 'downloaded.safetensors');
    await download.saveAs(file);
    const out = path.join(dir, 'downloaded-sampled');
    startBackend('gpujs:webasm');
    try {
      await sampleCommand({ checkpoint: file, n: 2, sampler: 'ddim', steps: 2, eta: 0, seed: 0, weights: 'ema', batchSize: 2, imageSize: 28, channels: 1, workers: 1, out }, () => {});
    } finally {
      setBackend(prev);
    }
    expect(fs.existsSync(path.join(out, 'grid.png'))).to.equal(true);
    await page.close();
  });

  it('a corrupted checkpoint gets a clear message on the page, and the loaded model stays', async () => {
    const page = await open('gpujs:webasm');
    const loaded = await page.textContent('#model-info');
    const bytes = fs.readFileSync(SHIPPED);
    await page.setInputFiles('#checkpoint-file', { name: 'broken.safetensors', mimeType: 'application/octet-stream', buffer: bytes.subarray(0, bytes.length - 1000) });
    await page.waitForSelector('#error:not([hidden])');
    expect(await page.textContent('#error')).to.match(/^checkpoint: safetensors: 'broken\.safetensors' is truncated/);
    expect(await page.textContent('#model-info')).to.equal(loaded);
    await page.close();
  });
});
