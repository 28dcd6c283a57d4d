/**
 * 03: sample one checkpoint with DDPM and with DDIM, from the same starting noise.
 *
 *   npx ts-node --transpile-only examples/03-sample-ddpm-vs-ddim.ts                 # the shipped assets/mnist-ddpm.safetensors
 *   npx ts-node --transpile-only examples/03-sample-ddpm-vs-ddim.ts runs/mnist-example/checkpoint.safetensors
 *   N=4 DDIM_STEPS=20,5 npx ts-node --transpile-only examples/03-sample-ddpm-vs-ddim.ts <checkpoint>
 *
 * DDPM (Ho et al. 2020, Algorithm 2) walks back through all T timesteps of the checkpoint's
 * schedule (1000 by default), adding fresh noise at each one. DDIM (Song et al. 2021, eq. 12,
 * eta = 0) uses the same trained network but visits only a few timesteps and adds no noise,
 * so its cost is that many network evaluations. Every sampler starts from the same x_T
 * (the same seed), so the grids can be compared image by image. Writes
 * runs/examples/ddpm_vs_ddim.png (grids left to right: DDPM, then each DDIM) and prints
 * how long each took. A class-conditional checkpoint draws the classes in turn at the
 * guidance scale its run trained with (twice the network evaluations per step). Settings by
 * environment: N (images, default 9), SEED (0), DDIM_STEPS (50,10), BACKEND (auto).
 * Read with docs/05-diffusion.md.
 */
import * as fs from 'fs';
import { Generator, createUNet, loadModelWeights, readTrainingCheckpointInfo, setBackend, type UNetConfig } from '../src';
import { resolveBackend } from '../src/backend/select';
import { shippedAssetPath } from '../src/classifier/weights';
import { DdimSampler, DdpmSampler, NoiseSchedule, sample, type BetaSchedule, type Prediction, type Sampler } from '../src/diffusion';
import { makeGrid, writeImagePng } from '../src/image/png';
import { balancedLabels } from '../src/train/condition';
import { samplerInput } from '../src/train/sampling';

const checkpoint = process.argv[2] ?? shippedAssetPath('mnist', 'ddpm');
if (!fs.existsSync(checkpoint)) {
  console.error(`no checkpoint at '${checkpoint}'; usage: npx ts-node --transpile-only examples/03-sample-ddpm-vs-ddim.ts [checkpoint.safetensors]`);
  process.exit(2);
}
const n = Number(process.env.N ?? 9);
const seed = Number(process.env.SEED ?? 0);
const ddimSteps = (process.env.DDIM_STEPS ?? '50,10').split(',').map(Number);
const out = 'runs/examples/ddpm_vs_ddim.png';

const { backend, reason } = resolveBackend(process.env.BACKEND ?? 'auto');
setBackend(backend); // before the model is built: its weights live on the current backend
console.log(`backend: ${backend.name} (${reason})`);

// A training checkpoint carries its run's config: the network, the noise schedule, what it predicts.
const info = readTrainingCheckpointInfo(checkpoint);
const cfg = info.config as { modelConfig: UNetConfig; imageShape: number[]; timesteps: number; betaSchedule: BetaSchedule; prediction?: Prediction; guidance?: number };
const model = createUNet(cfg.modelConfig);
const { source } = loadModelWeights(checkpoint, model); // the EMA weights when the file has them
model.eval();
const schedule = new NoiseSchedule({ numTimesteps: cfg.timesteps, schedule: cfg.betaSchedule });
const [c, h, w] = cfg.imageShape;
const prediction = cfg.prediction ?? 'eps';
const numClasses = cfg.modelConfig.numClasses ?? 0;
// a class-conditional network is asked for 0, 1, 2, ... in turn, guided at its run's scale
const condition = numClasses > 0 ? { labels: balancedLabels(n, numClasses), guidance: cfg.guidance ?? 1 } : undefined;
console.log(`${checkpoint}: step ${info.step}, ${model.numParameters().toLocaleString('en-US')} parameters (${source} weights), T = ${schedule.T} (${cfg.betaSchedule}), predicting ${prediction}` +
  (condition ? `, classes 0-${numClasses - 1} in turn at guidance ${condition.guidance}` : ''));

const samplers: Sampler[] = [new DdpmSampler(schedule), ...ddimSteps.map((steps) => new DdimSampler(schedule, { numSteps: Math.min(steps, schedule.T), eta: 0 }))];
const nrow = Math.ceil(Math.sqrt(n));
const grids = [];
for (const sampler of samplers) {
  const started = performance.now();
  // eps_theta(x_t, t): the network (guided, and turned into eps when it predicts v or x0); the sampler turns it into x_{t-1}
  const x0 = sample(samplerInput(model, null, schedule, prediction, condition), sampler, [n, c, h, w], { generator: new Generator(seed) });
  const seconds = (performance.now() - started) / 1000;
  const steps = sampler.timesteps.length;
  console.log(`${sampler.name.padEnd(4)} ${String(steps).padStart(4)} steps: ${seconds.toFixed(2)} s (${((1000 * seconds) / steps).toFixed(1)} ms per step)`);
  grids.push(makeGrid(x0.toArray(), n, c, h, w, nrow));
}

// The grids side by side, with a gap of 8 pixels in the padding's gray (0 in [-1, 1]).
const gap = 8;
const width = grids.reduce((s, g) => s + g.w, 0) + gap * (grids.length - 1);
const height = grids[0].h;
const canvas = new Float32Array(c * height * width);
let left = 0;
for (const g of grids) {
  for (let ch = 0; ch < c; ch++)
    for (let y = 0; y < height; y++) canvas.set(g.data.subarray((ch * height + y) * g.w, (ch * height + y + 1) * g.w), (ch * height + y) * width + left);
  left += g.w + gap;
}
writeImagePng(out, canvas, c, height, width);
console.log(`wrote ${out}: left to right ${samplers.map((s) => `${s.name} ${s.timesteps.length}`).join(', ')}`);
