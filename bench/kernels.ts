/**
 * Kernel throughput at the sizes of the reference unet-tiny (docs/04-nn-and-unet.md, "unet-tiny"):
 * GFLOP/s of matmul and conv2d (forward and both backward kernels) on every backend that
 * starts here, each with its ratio to the reference backend measured in the same run.
 *
 *   npx ts-node --transpile-only bench/kernels.ts                 # batch 64, all backends
 *   xvfb-run -a -s "-ac -screen 0 1280x1024x24" npx ts-node --transpile-only bench/kernels.ts
 *   npx ts-node --transpile-only bench/kernels.ts --batch 8 --backends ref,gpujs:webasm --seconds 0.3
 *   --only conv3x3      run the cases whose name contains this
 *
 * `gpujs:webasm-x2` is webasm with `webasmThreads: 2` (matmul and convolutions split over two
 * threads, src/backend/gpujs/webasm-threads.ts). Like the CLI, the bench runs in a Node with
 * --single-threaded-gc (src/cli/relaunch.ts).
 * `gpujs:webasm-stock` is webasm without the code-generator patch
 * (src/backend/gpujs/webasm-codegen-patch.ts), for comparison in the same run.
 *
 * Inputs are uploaded once; a measurement repeats the kernel for about --seconds (at least
 * once, after a warm-up call that compiles), freeing each output, then waits for the device
 * (sync) and reports the mean. Readback is not timed. Timings on a shared 2-core machine are
 * rough: read the ratios, not the third digit.
 */
import type { Backend, Buf, Conv2dParams, MatmulParams } from '../src/backend/backend';
import { createBackend } from '../src/backend/gpujs/select';
import { availability } from '../src/backend/gpujs/availability';
import { GpuJsBackend } from '../src/backend/gpujs/backend';
import { relaunchWithSingleThreadedGc } from '../src/cli/relaunch';
import { arg } from './args';

const BATCH = Number(arg('batch', '64'));
const SECONDS = Number(arg('seconds', '0.5'));
const WANT = arg('backends', 'ref,gpujs:webasm,gpujs:webasm-x2,gpujs:webasm-stock,gpujs:cpu,gpujs:gpu').split(',');
const ONLY = arg('only', '');

interface Case {
  name: string;
  flops: number;
  /** make the inputs on a backend, return a function that runs the kernel once */
  setup: (b: Backend) => () => Buf;
}

const random = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);

function conv(name: string, n: number, cin: number, hw: number, cout: number, stride: number, which: 'forward' | 'backwardInput' | 'backwardWeight', k = 3): Case {
  const pad = (k - 1) / 2;
  const oh = Math.floor((hw + 2 * pad - k) / stride) + 1;
  const p: Conv2dParams = { n, cin, h: hw, w: hw, cout, kh: k, kw: k, strideH: stride, strideW: stride, padH: pad, padW: pad, oh, ow: oh };
  return {
    name: `conv${k}x${k} ${which} ${name}`,
    flops: 2 * n * cout * oh * oh * cin * k * k,
    setup: (b) => {
      const x = b.fromArray(random(n * cin * hw * hw));
      const w = b.fromArray(random(cout * cin * k * k));
      const gy = b.fromArray(random(n * cout * oh * oh));
      if (which === 'forward') return () => b.conv2d(x, w, p);
      if (which === 'backwardInput') return () => b.conv2dBackwardInput(gy, w, p);
      return () => b.conv2dBackwardWeight(x, gy, p);
    },
  };
}

function matmul(name: string, batch: number, m: number, k: number, n: number, transB = false): Case {
  const p: MatmulParams = { batch, m, k, n, transA: false, transB, broadcastA: false, broadcastB: false };
  return {
    name: `matmul ${name}`,
    flops: 2 * batch * m * k * n,
    setup: (b) => {
      const a = b.fromArray(random(batch * m * k));
      const bb = b.fromArray(random(batch * k * n));
      return () => b.matmul(a, bb, p);
    },
  };
}

/** SiLU and its gradient (an exp and divisions per element); the rate column counts elements, not flops */
function silu(name: string, size: number, grad: boolean): Case {
  return {
    name: `${grad ? 'siluGrad' : 'silu'} ${name} (G elements/s)`,
    flops: size,
    setup: (b) => {
      const x = b.fromArray(random(size));
      const g = b.fromArray(random(size).reverse());
      if (!grad) return () => b.unary('silu', x, size);
      return () => b.binary('siluGrad', { buf: g, offset: 0, strides: [1] }, { buf: x, offset: 0, strides: [1] }, [size]);
    },
  };
}

const B = BATCH;
const CASES: Case[] = [
  conv(`[${B},32,28,28] -> 32 (down0, up path)`, B, 32, 28, 32, 1, 'forward'),
  conv(`[${B},32,28,28] -> 32`, B, 32, 28, 32, 1, 'backwardInput'),
  conv(`[${B},32,28,28] -> 32`, B, 32, 28, 32, 1, 'backwardWeight'),
  conv(`[${B},32,28,28] -> 32 stride 2 (downsample)`, B, 32, 28, 32, 2, 'forward'),
  conv(`[${B},32,28,28] -> 32 stride 2`, B, 32, 28, 32, 2, 'backwardInput'),
  conv(`[${B},32,28,28] -> 32 stride 2`, B, 32, 28, 32, 2, 'backwardWeight'),
  conv(`[${B},64,14,14] -> 64 (down1)`, B, 64, 14, 64, 1, 'forward'),
  conv(`[${B},64,14,14] -> 64`, B, 64, 14, 64, 1, 'backwardInput'),
  conv(`[${B},64,14,14] -> 64`, B, 64, 14, 64, 1, 'backwardWeight'),
  conv(`[${B},64,7,7] -> 64 (down2, mid)`, B, 64, 7, 64, 1, 'forward'),
  conv(`[${B},64,7,7] -> 64`, B, 64, 7, 64, 1, 'backwardInput'),
  conv(`[${B},64,7,7] -> 64`, B, 64, 7, 64, 1, 'backwardWeight'),
  conv(`[${B},32,28,28] -> 64 (skip)`, B, 32, 28, 64, 1, 'forward', 1),
  matmul('512^3', 1, 512, 512, 512),
  matmul(`attention q k^T [${B}] x [49,64] x [64,49]`, B, 49, 64, 49, true),
  matmul(`attention a v [${B}] x [49,49] x [49,64]`, B, 49, 49, 64),
  matmul(`linear [${B},128] x [128,128]`, 1, B, 128, 128),
  silu(`[${B},32,28,28]`, B * 32 * 28 * 28, false),
  silu(`[${B},32,28,28]`, B * 32 * 28 * 28, true),
];

function measure(b: Backend, c: Case): number {
  const run = c.setup(b);
  const sync = () => (b as { sync?: () => void }).sync?.();
  const free = (buf: Buf) => b.free?.(buf);
  free(run()); // compile
  sync();
  let reps = 0;
  const t0 = performance.now();
  while (reps < 1 || performance.now() - t0 < SECONDS * 1000) {
    free(run());
    reps++;
  }
  sync();
  const ms = (performance.now() - t0) / reps;
  return c.flops / ms / 1e6;
}

function main(): void {
  const backends: { spec: string; backend: Backend }[] = [];
  for (const spec of WANT) {
    if (spec.startsWith('gpujs:')) {
      const ok = availability(spec.slice(6).replace(/-(stock|x2)$/, '') as 'gpu' | 'webasm' | 'cpu');
      if (!ok.ok) {
        console.log(`(${spec} skipped: ${ok.reason})`);
        continue;
      }
    }
    if (spec === 'gpujs:webasm-stock') backends.push({ spec, backend: new GpuJsBackend({ mode: 'webasm', webasmPatch: false }) });
    else if (spec === 'gpujs:webasm-x2') backends.push({ spec, backend: new GpuJsBackend({ mode: 'webasm', webasmThreads: 2 }) });
    else backends.push({ spec, backend: createBackend(spec).backend });
  }
  console.log(`batch ${BATCH}, ~${SECONDS}s per measurement; GFLOP/s (ratio to ref)\n`);
  const width = Math.max(...CASES.map((c) => c.name.length));
  console.log(['kernel'.padEnd(width), ...backends.map((b) => b.spec.padStart(18))].join(' '));
  for (const c of CASES.filter((c) => c.name.includes(ONLY))) {
    const rates = backends.map((b) => measure(b.backend, c));
    const refRate = backends.findIndex((b) => b.spec === 'ref');
    const cells = rates.map((r, i) => {
      const ratio = refRate >= 0 && i !== refRate ? ` (${(r / rates[refRate]).toFixed(1)}x)` : '';
      return `${r.toFixed(2)}${ratio}`.padStart(18);
    });
    console.log([c.name.padEnd(width), ...cells].join(' '));
  }
  for (const b of backends) (b.backend as { destroy?: () => void }).destroy?.();
}

// as the CLI runs: V8's garbage collector on the main thread (src/cli/relaunch.ts)
if (!relaunchWithSingleThreadedGc()) main();
