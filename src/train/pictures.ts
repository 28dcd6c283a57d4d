/**
 * Pictures of the diffusion process: a grid of samples, the reverse process step by step
 * (one row per image, from noise to digit), and the forward process on one real image.
 */
import * as fs from 'fs';
import * as path from 'path';
import { tensor, randn } from '../creation';
import { noGrad } from '../autograd';
import { Generator } from '../random';
import type { Tensor } from '../tensor';
import { addNoise, type NoisePredictor } from '../diffusion/forward';
import { sample, type Sampler } from '../diffusion/samplers';
import type { NoiseSchedule } from '../diffusion/schedule';
import { writeGridPng, writeImagePng } from '../image/png';

/** n evenly spaced indices from 0 to len-1, both ends included. */
export function evenlySpaced(len: number, n: number): number[] {
  if (n <= 1) return [len - 1];
  return Array.from({ length: n }, (_, i) => Math.round((i * (len - 1)) / (n - 1)));
}

export interface SampleRun {
  /** the final samples [N, C, H, W] (in [-1, 1] when the sampler clips its x0 estimate, the default) */
  samples: Tensor;
  /** snapshots[k] = x after denoising to snapshotTimesteps[k] (the first is x_T itself) */
  snapshots: Float32Array[];
  snapshotTimesteps: number[];
}

/** Sample and keep `columns` snapshots of x_t along the way for the reverse-process picture. */
export function sampleWithSnapshots(model: NoisePredictor, sampler: Sampler, shape: number[], generator: Generator, columns = 10): SampleRun {
  const steps = sampler.timesteps;
  const keepAfter = new Set(evenlySpaced(steps.length, Math.max(columns - 1, 1)).map((i) => steps[i]));
  const snapshots: Float32Array[] = [];
  const snapshotTimesteps: number[] = [];
  const samples = sample(model, sampler, shape, {
    generator,
    onStart: (x) => {
      snapshots.push(x.toArray());
      snapshotTimesteps.push(steps[0] + 1); // x_T: before the first step
    },
    onStep: (t, x) => {
      if (keepAfter.has(t)) {
        snapshots.push(x.toArray());
        snapshotTimesteps.push(t);
      }
    },
  });
  return { samples, snapshots, snapshotTimesteps };
}

/** Rows = images, columns = the snapshots from noise (left) to the final sample (right). */
export function writeReverseProcessPng(file: string, run: SampleRun, shape: number[], maxRows = 8): void {
  const [n, c, h, w] = shape;
  const rows = Math.min(n, maxRows);
  const cols = run.snapshots.length;
  const per = c * h * w;
  const tiles = new Float32Array(rows * cols * per);
  for (let r = 0; r < rows; r++)
    for (let k = 0; k < cols; k++) tiles.set(run.snapshots[k].subarray(r * per, (r + 1) * per), (r * cols + k) * per);
  writeGridPng(file, tiles, rows * cols, c, h, w, { nrow: cols });
}

/** Write each image as its own PNG (the folder layout FID tools read): sample_00000.png, ... */
export function writeSingleImages(dir: string, images: Float32Array, n: number, c: number, h: number, w: number, startIndex = 0): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const per = c * h * w;
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const file = path.join(dir, `sample_${String(startIndex + i).padStart(5, '0')}.png`);
    writeImagePng(file, images.subarray(i * per, (i + 1) * per), c, h, w);
    files.push(file);
  }
  return files;
}

/**
 * The forward process made visible: one image x_0 [C, H, W] (in [-1, 1]) noised to
 * evenly spaced t from 0 to T-1 with one fixed noise draw, left to right.
 */
export function writeNoiseStripPng(file: string, schedule: NoiseSchedule, image: Float32Array, c: number, h: number, w: number, columns = 11, seed = 0): number[] {
  const ts = evenlySpaced(schedule.T, columns);
  noGrad(() => {
    const x0 = tensor(image, [1, c, h, w]).expand([columns, c, h, w]).contiguous();
    const noise = randn([1, c, h, w], { generator: new Generator(seed) }).expand([columns, c, h, w]).contiguous();
    const xt = addNoise(schedule, x0, noise, ts);
    writeGridPng(file, xt.toArray(), columns, c, h, w, { nrow: columns });
  });
  return ts;
}
