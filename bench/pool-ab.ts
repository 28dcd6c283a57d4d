/**
 * Training steps with webasm's output pool off (A) and on (B), in one process: two backends,
 * each with its own model and Adam, the steps alternating A, B, B, A, ... so both see the same
 * machine at the same moments. Between steps it yields to the event loop, as the trainer does
 * (the finalizers of dead tensors run there and hand their arrays back to the pool); the yield
 * is not timed.
 *
 *   npx ts-node --transpile-only bench/pool-ab.ts                          # unet-tiny, batch 32, 8 steps each
 *   npx ts-node --transpile-only bench/pool-ab.ts --model unet-mini --steps 12
 *
 * One thread, one forward/backward/Adam step per measurement after one warm-up step each
 * (which compiles the kernels); the medians, and the pool's hits (outputs copied into a reused
 * array) and misses (a new array) over the timed steps.
 */
import { Adam, createUNet, Generator, randn, setBackend } from '../src';
import { GpuJsBackend } from '../src/backend/gpujs/backend';
import { mseLoss } from '../src/ops/loss';
import { relaunchWithSingleThreadedGc } from '../src/cli/relaunch';
import { arg } from './args';

const BATCH = Number(arg('batch', '32'));
const STEPS = Number(arg('steps', '8'));
const MODEL = arg('model', 'unet-tiny');

async function main(): Promise<void> {
  const sides = (['A', 'B'] as const).map((name) => {
    const backend = new GpuJsBackend({ mode: 'webasm', webasmPool: name === 'B' });
    setBackend(backend);
    const model = createUNet(MODEL, { generator: new Generator(0) });
    return { name, backend, model, opt: new Adam(model.namedParameters(), { lr: 2e-4 }), gen: new Generator(1), times: [] as number[], pool0: { hits: 0, misses: 0 } };
  });
  console.log(`${MODEL} training steps, batch ${BATCH}, one thread: webasm's output pool off (A) and on (B), ${STEPS} alternating steps each`);
  for (let i = -1; i < STEPS; i++) {
    for (const side of i % 2 ? sides : [...sides].reverse()) {
      setBackend(side.backend);
      if (i === 0) side.pool0 = side.backend.memoryStats().pool ?? side.pool0;
      const t0 = performance.now();
      const x = randn([BATCH, 1, 28, 28], { generator: side.gen });
      const noise = randn([BATCH, 1, 28, 28], { generator: side.gen });
      const t = Array.from({ length: BATCH }, (_, j) => (j * 37) % 1000);
      const loss = mseLoss(side.model.forward(x, t), noise);
      side.opt.zeroGrad();
      loss.backward();
      side.opt.step();
      loss.item();
      if (i >= 0) side.times.push(performance.now() - t0);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[xs.length >> 1];
  for (const side of sides) {
    const pool = side.backend.memoryStats().pool;
    const use = pool ? `; pool: ${(pool.hits - side.pool0.hits) / STEPS} hits, ${(pool.misses - side.pool0.misses) / STEPS} misses a step` : '';
    console.log(`${side.name}: ${side.times.map((t) => t.toFixed(0)).join(' ')} ms (median ${median(side.times).toFixed(0)})${use}`);
  }
  console.log(`A / B = ${(median(sides[0].times) / median(sides[1].times)).toFixed(2)}`);
  for (const side of sides) side.backend.destroy();
}

// as the CLI runs: V8's garbage collector on the main thread (src/cli/relaunch.ts)
if (!relaunchWithSingleThreadedGc()) void main();
