/**
 * Per-kernel-family profile of a UNet training step (kernelStats: calls, ms inside the
 * kernels, ms laying outputs out, output floats), the mean over the warm steps. On webasm it
 * also times, inside the kernel calls, gpu.js's two copies: the arguments into each kernel's
 * own WebAssembly memory (utils.flattenTo) and the output out of it into a new array (the
 * `slice` of the memory view, which webasm-threads.ts's two-thread call uses too): what one
 * WebAssembly memory shared by all kernels could save at most.
 *
 *   npx ts-node --transpile-only bench/profile-step.ts gpujs:webasm 64 3      # spec, batch, steps (the first warms up); unet-tiny
 *   npx ts-node --transpile-only bench/profile-step.ts gpujs:webasm 32 3 unet-mini   # the default network
 */
import { createUNet, Adam, randn, setBackend, Generator } from '../src';
import { createBackend } from '../src/backend/gpujs/select';
import { mseLoss } from '../src/ops/loss';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const gpujs = require('gpu.js');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { WebAssemblyKernel } = require('gpu.js/src/backend/web-assembly/kernel');
const spec = process.argv[2] ?? 'gpujs:webasm';
const B = Number(process.argv[3] ?? 64);
const steps = Number(process.argv[4] ?? 2);
const preset = process.argv[5] ?? 'unet-tiny';
const copies = { inMs: 0, outMs: 0 };
if (spec.startsWith('gpujs:webasm')) {
  const flattenTo = gpujs.utils.flattenTo;
  gpujs.utils.flattenTo = function (value: unknown, target: Float32Array) {
    const t0 = performance.now();
    flattenTo.call(this, value, target);
    copies.inMs += performance.now() - t0;
  };
  const instantiate = WebAssemblyKernel.prototype._instantiate;
  WebAssemblyKernel.prototype._instantiate = function (this: any, key: string, args: unknown) {
    instantiate.call(this, key, args);
    const view = this._active.f32;
    if (Object.prototype.hasOwnProperty.call(view, 'slice')) return;
    view.slice = function (this: Float32Array, begin: number, end: number) {
      const t0 = performance.now();
      const out = Float32Array.prototype.slice.call(this, begin, end);
      copies.outMs += performance.now() - t0;
      return out;
    };
  };
}
const { backend } = createBackend(spec);
setBackend(backend);
const model = createUNet(preset, { generator: new Generator(0) });
const opt = new Adam(model.namedParameters(), { lr: 2e-4 });
const snap = () => new Map(((backend as any).kernelStats() as any[]).map((s) => [s.kernel, { ...s }]));
let before = snap();
let total = 0, fwd = 0;
for (let i = 0; i < steps; i++) {
  if (i === 1) { before = snap(); total = 0; fwd = 0; copies.inMs = 0; copies.outMs = 0; }
  const t0 = performance.now();
  const x = randn([B, 1, 28, 28]);
  const noise = randn([B, 1, 28, 28]);
  const t = Array.from({ length: B }, (_, j) => (j * 37) % 1000);
  const loss = mseLoss(model.forward(x, t), noise);
  const t1 = performance.now();
  opt.zeroGrad(); loss.backward(); opt.step();
  loss.item();
  const t2 = performance.now();
  console.log(`step ${i}: forward ${(t1 - t0).toFixed(0)} ms, total ${(t2 - t0).toFixed(0)} ms`);
  total += t2 - t0; fwd += t1 - t0;
}
const n = steps - 1;
const after = snap();
const rows: any[] = [];
let kSum = 0, oSum = 0;
for (const [k, s] of after) {
  const b: any = before.get(k) ?? { calls: 0, runMs: 0, outputMs: 0, compileMs: 0, floats: 0 };
  const r = { kernel: k, calls: (s.calls - b.calls) / n, runMs: (s.runMs - b.runMs + s.compileMs - b.compileMs) / n, outputMs: (s.outputMs - b.outputMs) / n, Mfloats: (s.floats - b.floats) / n / 1e6 };
  if (r.calls === 0) continue;
  kSum += r.runMs; oSum += r.outputMs; rows.push(r);
}
rows.sort((a, b) => b.runMs + b.outputMs - a.runMs - a.outputMs);
const stepMs = total / n;
console.log(`\nper step (mean of ${n} warm steps): ${stepMs.toFixed(0)} ms, forward ${(fwd / n).toFixed(0)} ms`);
console.log('kernel'.padEnd(24), 'calls'.padStart(6), 'kernel ms'.padStart(10), 'output ms'.padStart(10), '% step'.padStart(7), 'Mfloats'.padStart(8));
for (const r of rows) console.log(r.kernel.padEnd(24), r.calls.toFixed(0).padStart(6), r.runMs.toFixed(0).padStart(10), r.outputMs.toFixed(0).padStart(10), ((100 * (r.runMs + r.outputMs)) / stepMs).toFixed(1).padStart(7), r.Mfloats.toFixed(1).padStart(8));
console.log(`kernels ${kSum.toFixed(0)} ms, output layout ${oSum.toFixed(0)} ms, rest (JS: autograd, host ops, GC) ${(stepMs - kSum - oSum).toFixed(0)} ms`);
if (spec.startsWith('gpujs:webasm')) {
  const pct = (ms: number) => ((100 * ms) / n / stepMs).toFixed(1);
  console.log(`of the kernel ms, gpu.js's copies: arguments in ${(copies.inMs / n).toFixed(0)} ms (${pct(copies.inMs)}% of the step), outputs out ${(copies.outMs / n).toFixed(0)} ms (${pct(copies.outMs)}%)`);
}
