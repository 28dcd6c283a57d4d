/**
 * Whole training steps with the kernels of a git revision against the working tree's, in one
 * process: the kernel files named (default kernels/conv2d.ts) are loaded as they are at the
 * revision and as they are now, and the steps alternate A, B, A, B, ... with one or the other
 * set of kernel builders in place, so both see the same machine at the same moments (separate
 * runs of bench/train-step.ts on a shared 2-core machine vary by 30% from one minute to the
 * next). Everything else (autograd, the other kernels, the runner) is the working tree's.
 *
 *   npx ts-node --transpile-only bench/step-ab.ts                                 # HEAD against the working tree
 *   npx ts-node --transpile-only bench/step-ab.ts --rev e790999 --batch 32 --steps 6 --model unet-tiny
 *   npx ts-node --transpile-only bench/step-ab.ts --files kernels/conv2d.ts,kernels/matmul.ts
 *   npx ts-node --transpile-only bench/step-ab.ts --one-quad                      # the weight gradient's two quads per call, on and off
 *   npx ts-node --transpile-only bench/step-ab.ts --one-quad --pair-all --files kernels/elementwise.ts,kernels/groupnorm.ts
 *
 * One thread (gpujs:webasm), one forward/backward/Adam step per measurement after one warm-up
 * step each way (which compiles the kernels); the medians of --steps steps each way.
 * How it swaps: the backend calls the kernel files' exported spec builders through their
 * module objects, so each export is replaced by a function that calls the revision's or the
 * working tree's builder and renames the spec it returns (`<name>@A` / `<name>@B`), which the
 * runner then compiles and caches apart. The revision's files must export the same names.
 * With --one-quad, A is the working tree's builders with KernelSpec.pairQuads set false (one
 * SIMD quad per kernel_simd call, the patch's rule M off) and B the same builders as they are;
 * --pair-all then sets pairQuads true on B's kernels (of the files named), to measure pairing
 * kernels that do not ask for it.
 */
import { resolve } from 'path';
import { revisionModule } from './revision';
import { arg } from './args';

const REV = arg('rev', 'HEAD');
const BATCH = Number(arg('batch', '32'));
const STEPS = Number(arg('steps', '6'));
const MODEL = arg('model', 'unet-tiny');
const FILES = arg('files', 'kernels/conv2d.ts').split(',');
const ONE_QUAD = process.argv.includes('--one-quad');
const PAIR_ALL = ONE_QUAD && process.argv.includes('--pair-all');
const root = resolve(__dirname, '..');

let useA = false;
const isSpec = (v: any) => v && typeof v === 'object' && typeof v.name === 'string' && typeof v.source !== 'undefined' && Array.isArray(v.output);
for (const file of FILES) {
  const before = ONE_QUAD ? undefined : revisionModule('step-ab', REV, file);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const now = require(resolve(root, file));
  for (const key of Object.keys(now)) {
    const b = now[key];
    const a = before ? before[key] : b;
    if (typeof b !== 'function' || typeof a !== 'function') continue;
    now[key] = (...args: unknown[]) => {
      const out = (useA ? a : b)(...args);
      if (!isSpec(out)) return out;
      return { ...out, name: `${out.name}@${useA ? 'A' : 'B'}`, ...(useA && ONE_QUAD ? { pairQuads: false } : !useA && PAIR_ALL ? { pairQuads: true } : {}) };
    };
  }
}

// after the swap, so the backend's module objects are the swapped ones
// eslint-disable-next-line @typescript-eslint/no-var-requires
const lib = require('../src');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { createBackend } = require('../src/backend/gpujs/select');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { mseLoss } = require('../src/ops/loss');
const { backend } = createBackend('gpujs:webasm');
lib.setBackend(backend);
const model = lib.createUNet(MODEL, { generator: new lib.Generator(0) });
const opt = new lib.Adam(model.namedParameters(), { lr: 2e-4 });
const gen = new lib.Generator(1);

function step(): number {
  const t0 = performance.now();
  const x = lib.randn([BATCH, 1, 28, 28], { generator: gen });
  const noise = lib.randn([BATCH, 1, 28, 28], { generator: gen });
  const t = Array.from({ length: BATCH }, (_, j) => (j * 37) % 1000);
  const loss = mseLoss(model.forward(x, t), noise);
  opt.zeroGrad();
  loss.backward();
  opt.step();
  loss.item();
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[xs.length >> 1];
const sideA = ONE_QUAD ? 'at one SIMD quad per call' : `at ${REV}`;
console.log(`${MODEL} training steps, batch ${BATCH}, one thread: ${FILES.join(', ')} ${sideA} (A) against the working tree (B), ${STEPS} alternating steps each`);
const times: Record<'A' | 'B', number[]> = { A: [], B: [] };
for (let i = -1; i < STEPS; i++) {
  for (const side of ['A', 'B'] as const) {
    useA = side === 'A';
    const ms = step();
    if (i >= 0) times[side].push(ms);
  }
}
const a = median(times.A);
const b = median(times.B);
console.log(`A: ${times.A.map((t) => t.toFixed(0)).join(' ')} ms (median ${a.toFixed(0)})`);
console.log(`B: ${times.B.map((t) => t.toFixed(0)).join(' ')} ms (median ${b.toFixed(0)})`);
console.log(`A / B = ${(a / b).toFixed(2)}`);
