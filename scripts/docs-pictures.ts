/**
 * The pictures of the docs (docs/images/), made with the library itself:
 *
 *   npx ts-node --transpile-only scripts/docs-pictures.ts
 *   npx ts-node --transpile-only scripts/docs-pictures.ts --checkpoint assets/mnist-ddpm.safetensors   # BACKEND=auto (default) for the model pictures
 *
 * strides.png          a [3, 4] tensor, its storage, and two views of it (docs/01)
 * forward-process.png  one digit noised at t = 0 .. 999, linear and cosine schedules (docs/05)
 * alpha-bar.png        sqrt(abar_t) and sqrt(1 - abar_t) of both schedules (docs/05)
 * unet-tiny.png        the shape of unet-tiny: the feature maps of each level, to scale (docs/04)
 *
 * With --checkpoint (a training checkpoint of any conditioning), also, from its EMA weights:
 *
 * reverse-process.png  x_t and the predicted x_0 at 8 of 50 DDIM steps, 4 digits (docs/05)
 * ddpm-vs-ddim.png     the same starting noise sampled by DDPM (all T steps) and DDIM (50, 10) (docs/05)
 *
 * The pictures without a model are deterministic: test/docs.test.ts redraws them and
 * compares them with the committed files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors } from '../src/checkpoint/safetensors';
import { setBackend } from '../src/backend/registry';
import { resolveBackend } from '../src/backend/select';
import { loadDataset, toSignedPixels } from '../src/data';
import { addNoise, NoiseSchedule, sample, DdimSampler, DdpmSampler, type BetaSchedule, type Sampler } from '../src/diffusion';
import type { Prediction } from '../src/diffusion/objective';
import { isTrainingCheckpoint, loadModelWeights, readTrainingCheckpointInfo } from '../src/checkpoint/training';
import { createUNet } from '../src/nn/unet';
import { samplerInput } from '../src/train/trainer';
import { ClassConditioner, TextConditioner, type TextConditionState } from '../src/train/condition';
import { plotLossCurve, RgbCanvas, textWidth, GLYPH_HEIGHT, type Rgb } from '../src/image/plot';
import { writePngBytes } from '../src/image/png';
import { arange, randn, tensor, Generator, type Tensor } from '../src';
import { UNET_PRESETS, type UNetConfig } from '../src/nn/unet';

const BLACK: Rgb = [0, 0, 0];
const GRAY: Rgb = [120, 120, 120];
const LIGHT: Rgb = [225, 232, 245];
const ACCENT: Rgb = [200, 60, 40];
const BLUE: Rgb = [40, 90, 200];

/** Draw a 1-channel image (values in [-1, 1]) with each pixel as a scale x scale square. */
function drawImage(canvas: RgbCanvas, data: ArrayLike<number>, h: number, w: number, x: number, y: number, scale: number): void {
  for (let r = 0; r < h; r++)
    for (let c = 0; c < w; c++) {
      const v = Math.round(((Math.max(-1, Math.min(1, data[r * w + c])) + 1) / 2) * 255);
      canvas.fillRect(x + c * scale, y + r * scale, scale, scale, [v, v, v]);
    }
}

/** A row of numbered cells; `mark` colours some of them. Returns the width drawn. */
function cells(canvas: RgbCanvas, values: number[], x: number, y: number, size: number, mark: (i: number) => Rgb | null = () => null): number {
  values.forEach((v, i) => {
    const left = x + i * size;
    const m = mark(i);
    if (m) canvas.fillRect(left + 1, y + 1, size - 1, size - 1, m);
    canvas.strokeRect(left, y, left + size, y + size, GRAY);
    const label = String(v);
    canvas.text(label, left + Math.floor((size - textWidth(label, 2)) / 2) + 1, y + Math.floor((size - 2 * GLYPH_HEIGHT) / 2) + 1, m ? [255, 255, 255] : BLACK, 2);
  });
  return values.length * size;
}

/** A tensor's elements in row-major order of its own shape, read through its strides from its storage. */
function grid(t: Tensor): number[][] {
  const all = t.storage.backend.toArray(t.storage.buf, t.storage.size);
  const [rows, cols] = t.shape;
  return Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => all[t.offset + i * t.strides[0] + j * t.strides[1]]));
}

export function stridesPicture(file: string): void {
  const x = arange(12).reshape([3, 4]);
  const views: [string, Tensor][] = [
    ['X: SHAPE (3,4)  STRIDES (4,1)  OFFSET 0', x],
    ['X.TRANSPOSE(0,1): SHAPE (4,3)  STRIDES (1,4)  OFFSET 0', x.transpose(0, 1)],
    ['X.SLICE(1,1,3): SHAPE (3,2)  STRIDES (4,1)  OFFSET 1', x.slice(1, 1, 3)],
  ];
  const size = 34;
  const canvas = new RgbCanvas(840, 470);
  canvas.text('ONE STORAGE, THREE VIEWS. ELEMENT (I,J) OF A VIEW IS STORAGE(OFFSET + I STRIDES(0) + J STRIDES(1))', 20, 14, BLACK);
  canvas.text('STORAGE (12 NUMBERS, ON THE BACKEND)', 20, 40, GRAY);
  cells(canvas, Array.from({ length: 12 }, (_, i) => i), 20, 54, size);
  let left = 20;
  const colors = [BLUE, ACCENT, [60, 140, 60] as Rgb];
  views.forEach(([title, view], k) => {
    const g = grid(view);
    const top = 120;
    canvas.text(title.split(':')[0], left, top, colors[k]);
    canvas.text(title.split(': ')[1].replace(/  /g, ' '), left, top + 12, GRAY);
    g.forEach((row, i) => cells(canvas, row, left, top + 30 + i * size, size, () => colors[k]));
    // the storage cells this view reads
    const used = new Set(g.flat());
    cells(canvas, Array.from({ length: 12 }, (_, i) => i), 20, 340 + k * 40, size, (i) => (used.has(i) ? colors[k] : null));
    canvas.text(`READ BY ${title.split(':')[0]}, IN THE ORDER ${g.flat().join(' ')}`, 20 + 12 * 34 + 12, 352 + k * 40, colors[k]);
    left += Math.max(...g.map((r) => r.length)) * size + 130;
  });
  writePngBytes(file, canvas.data, 3, canvas.height, canvas.width);
}

const TIMES = [0, 50, 100, 200, 300, 400, 500, 700, 999];

export function forwardProcessPicture(file: string): void {
  const ds = loadDataset('mnist', { split: 'test' });
  const [h, w] = [ds.height, ds.width];
  const digit = ds.images.slice(0, h * w); // the first held-out digit
  const x0 = tensor(toSignedPixels(digit), [1, 1, h, w]);
  const noise = randn([1, 1, h, w], { generator: new Generator(7) });
  const scale = 3;
  const cell = w * scale + 10;
  const canvas = new RgbCanvas(110 + TIMES.length * cell, 40 + 2 * (h * scale + 34));
  canvas.text('X_T = SQRT(ABAR_T) X_0 + SQRT(1 - ABAR_T) EPS, THE SAME EPS IN EVERY PICTURE', 10, 10, BLACK);
  (['linear', 'cosine'] as const).forEach((kind, r) => {
    const s = new NoiseSchedule({ numTimesteps: 1000, schedule: kind });
    const top = 36 + r * (h * scale + 34);
    canvas.text(kind.toUpperCase(), 10, top + Math.floor((h * scale) / 2) - 3, BLACK);
    TIMES.forEach((t, k) => {
      const xt = addNoise(s, x0, noise, [t]).toArray();
      drawImage(canvas, xt, h, w, 100 + k * cell, top, scale);
      canvas.text(`T=${t}`, 100 + k * cell, top + h * scale + 6, GRAY);
    });
  });
  writePngBytes(file, canvas.data, 3, canvas.height, canvas.width);
}

export function alphaBarPicture(file: string): void {
  const series = (['linear', 'cosine'] as const).flatMap((kind) => {
    const s = new NoiseSchedule({ numTimesteps: 1000, schedule: kind });
    const ts = Array.from({ length: 1000 }, (_, t) => t);
    return [
      { name: `sqrt(abar) ${kind}`, xs: ts, ys: ts.map((t) => s.sqrtAlphasCumprod[t]) },
      { name: `sqrt(1-abar) ${kind}`, xs: ts, ys: ts.map((t) => s.sqrtOneMinusAlphasCumprod[t]) },
    ];
  });
  plotLossCurve(file, series, { title: 'SIGNAL AND NOISE SCALES OF X_T', xLabel: 'timestep t', yLabel: 'scale', width: 640, height: 400 });
}

export function unetPicture(file: string, config: UNetConfig = UNET_PRESETS['unet-tiny'], size = 28): void {
  const levels = config.channelMults.map((m, l) => ({ ch: config.baseChannels * m, res: size / 2 ** l }));
  const px = 6; // pixels per feature-map pixel
  const depth = 1.4; // pixels per channel
  const canvas = new RgbCanvas(980, 700);
  canvas.text('UNET-TINY: THE FEATURE MAPS TO SCALE (HEIGHT = RESOLUTION, WIDTH = CHANNELS). SKIPS JOIN ON CHANNELS.', 14, 12, BLACK);
  const box = (x: number, y: number, ch: number, res: number, label: string, color: Rgb) => {
    const w = Math.round(ch * depth);
    const h = res * px;
    canvas.fillRect(x, y, w, h, color);
    canvas.strokeRect(x, y, x + w, y + h, GRAY);
    canvas.text(label, x, y + h + 6, BLACK);
    return { x, y, w, h };
  };
  // each level's row starts 70 pixels below the one above it
  const tops = [56];
  for (const lv of levels) tops.push(tops[tops.length - 1] + lv.res * px + 70);
  const rowY = (l: number) => tops[l];
  const downs = levels.map((lv, l) => box(40 + l * 130, rowY(l), lv.ch, lv.res, `${lv.res}X${lv.res}X${lv.ch}`, LIGHT));
  const ups = levels.map((lv, l) => box(920 - l * 130 - Math.round(lv.ch * depth), rowY(l), lv.ch, lv.res, `${lv.res}X${lv.res}X${lv.ch}`, LIGHT));
  const last = levels[levels.length - 1];
  const midW = Math.round(last.ch * depth);
  const mid = box(490 - Math.floor(midW / 2), rowY(levels.length), last.ch, last.res, `MIDDLE ${last.res}X${last.res}X${last.ch}: RESBLOCK, ATTENTION, RESBLOCK`, [250, 225, 200]);
  const link = (a: { x: number; y: number; w: number; h: number }, b: { x: number; y: number; w: number }, label: string, down: boolean) => {
    const [x0, y0] = [a.x + Math.floor(a.w / 2), a.y + a.h + 18];
    const [x1, y1] = [b.x + Math.floor(b.w / 2), b.y - 4];
    canvas.line(x0, y0, x1, y1, ACCENT);
    canvas.text(label, Math.floor((x0 + x1) / 2) + (down ? 8 : -8 - textWidth(label)), Math.floor((y0 + y1) / 2) - 3, ACCENT);
  };
  levels.forEach((_, l) => {
    const d = downs[l];
    const u = ups[l];
    const y = d.y + Math.floor(d.h / 2);
    for (let x = d.x + d.w + 4; x < u.x - 4; x += 6) canvas.line(x, y, Math.min(x + 3, u.x - 4), y, BLUE);
    canvas.text(`SKIP S${l}`, Math.floor((d.x + d.w + u.x) / 2) - 16, y - 12, BLUE);
    if (l + 1 < levels.length) {
      link(d, downs[l + 1], 'CONV STRIDE 2', true);
      const from = ups[l + 1];
      canvas.line(from.x + Math.floor(from.w / 2), from.y - 4, u.x + Math.floor(u.w / 2), u.y + u.h + 18, ACCENT);
      canvas.text('UPSAMPLE X2, CONV', Math.floor((from.x + u.x + u.w) / 2) + 14, Math.floor((from.y + u.y + u.h) / 2), ACCENT);
    }
  });
  link(downs[levels.length - 1], mid, '', true);
  const up = ups[levels.length - 1];
  canvas.line(mid.x + mid.w, mid.y + Math.floor(mid.h / 2), up.x + Math.floor(up.w / 2), up.y + up.h + 18, ACCENT);
  canvas.text(`IN: X_T 1X${size}X${size}, CONV_IN`, downs[0].x, 34, GRAY);
  const out = 'OUT: CONV_OUT, THE PREDICTED EPS (OR V)';
  canvas.text(out, ups[0].x + ups[0].w - textWidth(out), 34, GRAY);
  canvas.text('EVERY RESBLOCK ALSO READS THE TIME EMBEDDING (AND THE CLASS, OR THE TEXT THROUGH CROSS-ATTENTION)', 14, 680, GRAY);
  writePngBytes(file, canvas.data, 3, canvas.height, canvas.width);
}

/** The pieces of a training checkpoint needed to sample from it: the EMA network, its schedule, objective and condition. */
function loadForSampling(file: string) {
  const cfg = readTrainingCheckpointInfo(file).config as {
    modelConfig: UNetConfig; imageShape: number[]; timesteps: number; betaSchedule: BetaSchedule; prediction?: Prediction; guidance?: number; text?: TextConditionState;
  };
  const model = createUNet(cfg.modelConfig);
  loadModelWeights(file, model, { prefer: 'ema' });
  model.eval();
  const schedule = new NoiseSchedule({ numTimesteps: cfg.timesteps, schedule: cfg.betaSchedule });
  const conditioner = cfg.modelConfig.text ? new TextConditioner(cfg.text!) : cfg.modelConfig.numClasses ? new ClassConditioner(cfg.modelConfig.numClasses) : null;
  const predictor = (classes: number[]) =>
    samplerInput(model, null, schedule, cfg.prediction ?? 'eps', conditioner ? { labels: conditioner.forClasses(Int32Array.from(classes)), guidance: cfg.guidance ?? 1 } : undefined);
  return { schedule, shape: cfg.imageShape, predictor, conditional: conditioner !== null };
}

const DIGITS = [3, 5, 7, 9];

export function reversePicture(checkpoint: string, file: string): void {
  const { schedule, shape: [c, h, w], predictor, conditional } = loadForSampling(checkpoint);
  const sampler = new DdimSampler(schedule, { numSteps: 50 });
  const keep = new Set([0, 10, 20, 30, 38, 44, 47, 49].map((i) => sampler.timesteps[i]));
  const frames: { t: number; x: Float32Array; x0: Float32Array }[] = [];
  sample(predictor(DIGITS), sampler, [DIGITS.length, c, h, w], {
    generator: new Generator(5),
    onStep: (t, x, x0) => {
      if (keep.has(t)) frames.push({ t, x: x.toArray(), x0: x0.toArray() });
    },
  });
  const scale = 3;
  const cell = w * scale + 8;
  const rowH = h * scale + 6;
  const canvas = new RgbCanvas(150 + frames.length * cell, 44 + DIGITS.length * (2 * rowH + 14) + 10);
  canvas.text(`DDIM, 50 STEPS${conditional ? `, ASKED FOR ${DIGITS.join(', ')}` : ''}: X_T AFTER THE STEP (UPPER ROW), AND THE X_0 THE NETWORK PREDICTS FROM IT (LOWER ROW)`, 10, 10, BLACK);
  frames.forEach((f, k) => canvas.text(`T=${f.t}`, 150 + k * cell, 28, GRAY));
  DIGITS.forEach((_, i) => {
    const top = 44 + i * (2 * rowH + 14);
    canvas.text('X_T', 10, top + Math.floor(h * scale / 2) - 3, GRAY);
    canvas.text('PREDICTED X_0', 10, top + rowH + Math.floor(h * scale / 2) - 3, BLUE);
    frames.forEach((f, k) => {
      drawImage(canvas, f.x.subarray(i * c * h * w, (i + 1) * c * h * w), h, w, 150 + k * cell, top, scale);
      drawImage(canvas, f.x0.subarray(i * c * h * w, (i + 1) * c * h * w), h, w, 150 + k * cell, top + rowH, scale);
    });
  });
  writePngBytes(file, canvas.data, 3, canvas.height, canvas.width);
}

export function ddpmVsDdimPicture(checkpoint: string, file: string): { seconds: Record<string, number> } {
  const { schedule, shape: [c, h, w], predictor } = loadForSampling(checkpoint);
  const runs: [string, Sampler][] = [
    [`DDPM, ${schedule.T} STEPS`, new DdpmSampler(schedule)],
    ['DDIM, 50 STEPS', new DdimSampler(schedule, { numSteps: 50 })],
    ['DDIM, 10 STEPS', new DdimSampler(schedule, { numSteps: 10 })],
  ];
  const scale = 3;
  const cell = w * scale + 8;
  const canvas = new RgbCanvas(150 + DIGITS.length * cell, 30 + runs.length * (h * scale + 12));
  canvas.text('THE SAME STARTING NOISE, THREE SAMPLERS', 10, 10, BLACK);
  const seconds: Record<string, number> = {};
  runs.forEach(([name, sampler], r) => {
    const started = Date.now();
    // the same generator seed: the same x_T (DDPM then draws its own z at each step from it)
    const x = sample(predictor(DIGITS), sampler, [DIGITS.length, c, h, w], { generator: new Generator(11) }).toArray();
    seconds[name] = (Date.now() - started) / 1000;
    const top = 30 + r * (h * scale + 12);
    canvas.text(name, 10, top + Math.floor(h * scale / 2) - 3, BLACK);
    DIGITS.forEach((_, i) => drawImage(canvas, x.subarray(i * c * h * w, (i + 1) * c * h * w), h, w, 150 + i * cell, top, scale));
  });
  writePngBytes(file, canvas.data, 3, canvas.height, canvas.width);
  return { seconds };
}

export function drawAll(dir: string): string[] {
  const files = ['strides.png', 'forward-process.png', 'alpha-bar.png', 'unet-tiny.png'].map((f) => path.join(dir, f));
  stridesPicture(files[0]);
  forwardProcessPicture(files[1]);
  alphaBarPicture(files[2]);
  unetPicture(files[3]);
  return files;
}

if (require.main === module) {
  const dir = path.join(__dirname, '..', 'docs', 'images');
  for (const f of drawAll(dir)) console.log(`wrote ${path.relative(process.cwd(), f)}`);
  const at = process.argv.indexOf('--checkpoint');
  if (at >= 0) {
    const checkpoint = process.argv[at + 1];
    if (!checkpoint || !fs.existsSync(checkpoint) || !isTrainingCheckpoint(readSafetensors(checkpoint))) {
      console.error(`docs-pictures: --checkpoint needs a training checkpoint (a run's checkpoint.safetensors), got '${checkpoint ?? ''}'`);
      process.exit(2);
    }
    // the model pictures run the network thousands of times: on the fastest backend here (the pictures without a model stay on ref, as the test draws them)
    const choice = resolveBackend(process.env.BACKEND ?? 'auto');
    setBackend(choice.backend);
    console.log(`backend for the model pictures: ${choice.backend.name} (${choice.reason})`);
    reversePicture(checkpoint, path.join(dir, 'reverse-process.png'));
    console.log(`wrote docs/images/reverse-process.png from ${checkpoint}`);
    const { seconds } = ddpmVsDdimPicture(checkpoint, path.join(dir, 'ddpm-vs-ddim.png'));
    console.log(`wrote docs/images/ddpm-vs-ddim.png from ${checkpoint} (${Object.entries(seconds).map(([k, v]) => `${k.toLowerCase()}: ${v.toFixed(1)} s`).join(', ')})`);
  }
}
