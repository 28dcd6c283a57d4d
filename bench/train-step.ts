/**
 * One full unet-tiny DDPM training step (forward on a noisy batch, MSE to the noise, backward,
 * Adam) per backend, with its ratio to the reference backend measured in the same run, and to
 * PyTorch (bench/torch_step.py, the same model in float32) when /usr/bin/python3 has torch.
 *
 *   npx ts-node --transpile-only bench/train-step.ts                      # batch 64
 *   xvfb-run -a -s "-ac -screen 0 1280x1024x24" npx ts-node --transpile-only bench/train-step.ts
 *   npx ts-node --transpile-only bench/train-step.ts --batch 64 --steps 2 --backends gpujs:webasm,torch
 *
 * Backends: ref (at --ref-batch, default 4, scaled linearly to --batch: the reference is
 * ~100x slower), gpujs:webasm, gpujs:webasm-stock (webasm without the code-generator patch,
 * src/backend/gpujs/webasm-codegen-patch.ts), gpujs:gpu when DISPLAY is set (at --gl-batch,
 * default 8, scaled: Mesa llvmpipe), gpujs:webasm-x2 (webasm on both cores: the trainer's data
 * parallelism, src/train/parallel.ts, a worker thread taking half of each batch),
 * gpujs:webasm-1pass (the whole batch in one forward/backward pass instead of the trainer's
 * passes of --micro-batch images, default 32), torch
 * (threads: --torch-threads, default 2, and 1).
 * Each runs one warm-up step (compiles kernels) and then --steps timed steps (default 1).
 * Check `uptime` first: timings on a shared 2-core machine are only as good as its idleness.
 */
import { execFileSync } from 'child_process';
import { Adam, createUNet, Generator, randn, setBackend, type Tensor } from '../src';
import type { UNet } from '../src/nn/unet';
import type { Backend } from '../src/backend/backend';
import { availability } from '../src/backend/gpujs/availability';
import { GpuJsBackend } from '../src/backend/gpujs/backend';
import { createBackend } from '../src/backend/gpujs/select';
import { DEFAULT_SCHEDULE, NoiseSchedule } from '../src/diffusion/schedule';
import { accumulateGradients, DataParallel } from '../src/train/parallel';
import { relaunchWithSingleThreadedGc } from '../src/cli/relaunch';
import { arg } from './args';

const BATCH = Number(arg('batch', '64'));
const STEPS = Number(arg('steps', '1'));
const REF_BATCH = Number(arg('ref-batch', '4'));
const GL_BATCH = Number(arg('gl-batch', '8'));
const TORCH_THREADS = Number(arg('torch-threads', '2'));
const MICRO_BATCH = Number(arg('micro-batch', '32'));
const WANT = arg('backends', 'ref,gpujs:webasm,gpujs:webasm-1pass,gpujs:webasm-x2,gpujs:webasm-stock,gpujs:gpu,torch').split(',');

interface Row {
  name: string;
  batch: number;
  /** ms per step at `batch` */
  ms: number;
  note?: string;
}

/**
 * ms per training step (the mean of STEPS after one warm-up): a fresh unet-tiny and Adam on
 * `backend`, a random batch each step, and `lossAndGradients` filling the gradients.
 */
function timeTraining(backend: Backend, batch: number, lossAndGradients: (model: UNet, schedule: NoiseSchedule, x0: Tensor, t: Int32Array, noise: Tensor) => void, given?: UNet): number {
  setBackend(backend);
  const model = given ?? createUNet('unet-tiny', { generator: new Generator(0) });
  const opt = new Adam(model.namedParameters(), { lr: 2e-4 });
  const schedule = new NoiseSchedule(DEFAULT_SCHEDULE);
  const times: number[] = [];
  for (let i = 0; i < STEPS + 1; i++) {
    const t0 = performance.now();
    const x0 = randn([batch, 1, 28, 28]);
    const noise = randn([batch, 1, 28, 28]);
    const t = Int32Array.from({ length: batch }, (_, j) => (j * 37) % 1000);
    opt.zeroGrad();
    lossAndGradients(model, schedule, x0, t, noise);
    opt.step();
    times.push(performance.now() - t0);
  }
  return times.slice(1).reduce((a, b) => a + b, 0) / STEPS;
}

/** The trainer's one-thread step: passes of microBatch images. */
function timeSteps(backend: Backend, batch: number, microBatch = MICRO_BATCH): number {
  return timeTraining(backend, batch, (model, schedule, x0, t, noise) => accumulateGradients(model, schedule, x0, t, noise, microBatch));
}

/** The trainer's data-parallel step (denoising loss on every core), webasm. */
function timeParallelSteps(backend: Backend, batch: number, threads: number): number {
  setBackend(backend);
  const model = createUNet('unet-tiny', { generator: new Generator(0) });
  const parallel = new DataParallel(threads, 'gpujs:webasm', model, new NoiseSchedule(DEFAULT_SCHEDULE), MICRO_BATCH);
  try {
    return timeTraining(backend, batch, (m, schedule, x0, t, noise) => parallel.lossAndGradients(m, schedule, x0, t, noise), model);
  } finally {
    void parallel.close();
  }
}

function torchRows(): Row[] {
  const rows: Row[] = [];
  for (const threads of [...new Set([TORCH_THREADS, 1])]) {
    try {
      const out = execFileSync('/usr/bin/python3', ['bench/torch_step.py', String(BATCH), String(Math.max(2, STEPS)), String(threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const r = JSON.parse(out.trim().split('\n').pop()!);
      rows.push({ name: `torch ${r.torch} (${threads} thread${threads > 1 ? 's' : ''})`, batch: BATCH, ms: Math.min(...r.ms) });
    } catch (e) {
      console.log(`(torch skipped: ${(e as Error).message.split('\n')[0]})`);
      break;
    }
  }
  return rows;
}

function main(): void {
  console.log(`unet-tiny training step, batch ${BATCH}, ${STEPS} timed step(s) after a warm-up; load: ${require('os').loadavg().map((l: number) => l.toFixed(2)).join(' ')}`);
  const rows: Row[] = [];
  for (const spec of WANT) {
    if (spec === 'torch') {
      rows.push(...torchRows());
      continue;
    }
    let backend: Backend;
    let batch = BATCH;
    if (spec === 'ref') batch = Math.min(REF_BATCH, BATCH);
    if (spec.startsWith('gpujs:')) {
      const mode = spec.slice(6).replace(/-stock|-x2|-1pass/, '') as 'gpu' | 'webasm' | 'cpu';
      const ok = availability(mode);
      if (!ok.ok) {
        console.log(`(${spec} skipped: ${ok.reason})`);
        continue;
      }
      if (mode === 'gpu') batch = Math.min(GL_BATCH, BATCH);
    }
    if (spec === 'gpujs:webasm-stock') backend = new GpuJsBackend({ mode: 'webasm', webasmPatch: false });
    else if (spec === 'gpujs:webasm-x2' || spec === 'gpujs:webasm-1pass') backend = createBackend('gpujs:webasm').backend;
    else backend = createBackend(spec).backend;
    const ms = spec === 'gpujs:webasm-x2' ? timeParallelSteps(backend, batch, 2) : timeSteps(backend, batch, spec === 'gpujs:webasm-1pass' ? Infinity : MICRO_BATCH);
    (backend as { destroy?: () => void }).destroy?.();
    const scaled = (ms * BATCH) / batch;
    rows.push({ name: spec, batch, ms: scaled, note: batch !== BATCH ? `measured at batch ${batch}: ${ms.toFixed(0)} ms, scaled x${(BATCH / batch).toFixed(0)}` : undefined });
    console.log(`  ${spec}: ${(scaled / 1000).toFixed(2)} s/step${batch !== BATCH ? ` (${rows[rows.length - 1].note})` : ''}`);
  }
  const ref = rows.find((r) => r.name === 'ref');
  // the faster torch row (2 threads lose to 1 when another job holds a core)
  const torch = rows.filter((r) => r.name.startsWith('torch')).sort((a, b) => a.ms - b.ms)[0];
  console.log('');
  console.log(['backend'.padEnd(26), 's/step'.padStart(8), 'vs ref'.padStart(8), 'x torch'.padStart(8), '  note'].join(' '));
  for (const r of rows) {
    const vsRef = ref && r !== ref ? `${(ref.ms / r.ms).toFixed(1)}x` : '';
    const vsTorch = torch && !r.name.startsWith('torch') ? `${(r.ms / torch.ms).toFixed(1)}x` : '';
    console.log([r.name.padEnd(26), (r.ms / 1000).toFixed(2).padStart(8), vsRef.padStart(8), vsTorch.padStart(8), `  ${r.note ?? ''}`].join(' '));
  }
  console.log('\nvs ref: how many times faster than the reference backend; x torch: how many times slower than PyTorch (its faster row).');
}

// as the CLI runs: V8's garbage collector on the main thread (src/cli/relaunch.ts)
if (!relaunchWithSingleThreadedGc()) main();
