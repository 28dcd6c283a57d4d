/**
 * The convolution and matmul kernels of a git revision against the working tree's, in one process: the
 * same runner, the same inputs, calls alternating A, B, A, B, ... and the median of each, so
 * the two see the same machine at the same moments (on a shared 2-core machine separate runs
 * of bench/kernels.ts vary by 30% and more from one minute to the next).
 *
 *   npx ts-node --transpile-only bench/kernel-ab.ts                    # HEAD against the working tree
 *   npx ts-node --transpile-only bench/kernel-ab.ts --rev e790999 --batch 32 --calls 15 --only forward
 *   npx ts-node --transpile-only bench/kernel-ab.ts --one-quad       # A: the working tree's kernels at one SIMD quad per call
 *
 * Kernels: the forward conv (stride 1 and stride 2 on its phases), the stride-1 input gradient
 * and the weight gradient, at unet-tiny's and unet-mini's sizes, the kernel alone (its input already padded);
 * matmul at 512^3 and two unet-tiny sizes. One thread (gpujs:webasm). The revision's
 * kernels/conv2d.ts and kernels/matmul.ts are written to a temporary folder with their imports
 * pointed back at this checkout, so they must use the same exports. With --one-quad, A is the
 * working tree's kernels compiled without the patch's two quads per call (M; KernelSpec.pairQuads
 * false), B the same kernels as the backend compiles them.
 */
import type { Conv2dParams } from '../src/backend/backend';
import { KernelRunner, type KernelArg } from '../src/backend/gpujs/runner';
import * as working from '../kernels/conv2d';
import type { PaddedConv } from '../kernels/conv2d';
import * as workingMatmul from '../kernels/matmul';
import type { KernelSpec } from '../kernels/kernel';
import { Generator } from '../src/random';
import { revisionModule } from './revision';
import { arg } from './args';

const REV = arg('rev', 'HEAD');
const BATCH = Number(arg('batch', '32'));
const CALLS = Number(arg('calls', '15'));
const ONLY = arg('only', '');
const ONE_QUAD = process.argv.includes('--one-quad');

const gen = new Generator(1);
const random = (n: number) => Float32Array.from({ length: n }, () => gen.uniform() - 0.5);

interface Case {
  name: string;
  flops: number;
  /** the kernel and its arguments, built with one side's modules */
  make: (m: typeof working, mm: typeof workingMatmul) => { spec: KernelSpec; args: KernelArg[] };
}

function params(cin: number, hw: number, cout: number, stride: number): Conv2dParams {
  const o = Math.floor((hw + 2 - 3) / stride) + 1;
  return { n: BATCH, cin, h: hw, w: hw, cout, kh: 3, kw: 3, strideH: stride, strideW: stride, padH: 1, padW: 1, oh: o, ow: o };
}

const cases: Case[] = [];
/** A padded conv kernel (forward, input gradient, strided forward): its input sized from the PaddedConv itself. */
function paddedCase(name: string, p: Conv2dParams, spec: 'conv2d.forward' | 'conv2d.backwardInput', build: (m: typeof working) => PaddedConv): Case {
  return {
    name,
    flops: 2 * p.n * p.cout * p.cin * 9 * p.oh * p.ow,
    make: (m) => {
      const c = build(m);
      const planes = c.phases ? c.phases.sh * c.phases.sw : 1;
      return { spec: m.paddedConvSpec(spec, c), args: [random(c.n * c.cin * planes * c.hp * c.wp), random(p.cout * p.cin * 9)] };
    },
  };
}
// unet-tiny's sizes, then unet-mini's (the default network, half the channels)
for (const [cin, hw, cout] of [[32, 28, 32], [64, 14, 64], [64, 7, 64], [16, 28, 16], [32, 14, 32]]) {
  const p = params(cin, hw, cout, 1);
  const shape = `[${BATCH},${cin},${hw},${hw}] -> ${cout}`;
  cases.push(paddedCase(`forward ${shape}`, p, 'conv2d.forward', (m) => m.forwardPadded(p)));
  cases.push(paddedCase(`backwardInput ${shape}`, p, 'conv2d.backwardInput', (m) => m.backwardInputPadded(p)));
  cases.push({
    name: `backwardWeight ${shape}`,
    flops: 2 * p.n * p.cout * p.cin * 9 * p.oh * p.ow,
    make: (m) => {
      const wp = m.paddedPitch(p.w + 2);
      return { spec: m.conv2dBackwardWeightTSpec(p), args: [random(p.n * p.cin * (p.h + 2) * wp), random(p.n * p.cout * p.oh * p.ow), m.backwardWeightOffsets(p)] };
    },
  });
}
{
  const p = params(32, 28, 32, 2);
  cases.push(paddedCase(`forward [${BATCH},32,28,28] -> 32 stride 2`, p, 'conv2d.forward', (m) => m.forwardPhased(p)));
}

for (const [m, k, n] of [[512, 512, 512], [64, 128, 784], [128, 128, 128]]) {
  const p = { batch: 1, m, k, n, transA: false, transB: false, broadcastA: false, broadcastB: false };
  cases.push({ name: `matmul [${m},${k}] x [${k},${n}]`, flops: 2 * m * k * n, make: (_c, mm) => ({ spec: mm.matmulSpec(p), args: [random(m * k), random(k * n)] }) });
}

const before = ONE_QUAD ? working : revisionModule('kernel-ab', REV, 'kernels/conv2d.ts');
const beforeMatmul = ONE_QUAD ? workingMatmul : revisionModule('kernel-ab', REV, 'kernels/matmul.ts');
const runner = new KernelRunner('webasm', {});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`kernels, ${ONE_QUAD ? 'one quad per call' : REV} (A) against the working tree (B), batch ${BATCH}, one thread, ${CALLS} alternating calls each; GFLOP/s of the medians\n`);
console.log('kernel'.padEnd(44), 'A'.padStart(7), 'B'.padStart(7), 'B/A'.padStart(6));
for (const c of cases.filter((x) => x.name.includes(ONLY))) {
  const a = c.make(before, beforeMatmul);
  const b = c.make(working, workingMatmul);
  // different names, so the runner compiles and caches them apart
  const specA = { ...a.spec, name: `${a.spec.name}@A`, ...(ONE_QUAD ? { pairQuads: false } : {}) };
  const specB = { ...b.spec, name: `${b.spec.name}@B` };
  for (let i = 0; i < 2; i++) {
    runner.run(specA, a.args);
    runner.run(specB, b.args);
  }
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    let t0 = performance.now();
    runner.run(specA, a.args);
    ta.push(performance.now() - t0);
    t0 = performance.now();
    runner.run(specB, b.args);
    tb.push(performance.now() - t0);
  }
  const ga = c.flops / median(ta) / 1e6;
  const gb = c.flops / median(tb) / 1e6;
  console.log(c.name.padEnd(44), ga.toFixed(2).padStart(7), gb.toFixed(2).padStart(7), (gb / ga).toFixed(2).padStart(6));
}
runner.destroy();
