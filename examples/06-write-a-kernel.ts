/**
 * Write a gpu.js kernel, run it, and test it against a plain loop: softplus(x) = log(1 + e^x),
 * one output element per thread. Read with docs/course/05-gpujs-kernel.md (how a kernel
 * runs) and kernels/kernel.ts (what a kernel may contain).
 *
 *   npx ts-node --transpile-only examples/06-write-a-kernel.ts
 *
 * The same function runs in gpu.js's JavaScript mode ('cpu': step through it in a debugger),
 * its WebAssembly mode ('webasm', what `--backend auto` picks on a CPU) and, where a GPU and
 * the `gl` package are there, WebGL ('gpu').
 */
import { availability, type GpuJsMode } from '../src/backend/gpujs';
import { flattenResult } from '../src/backend/gpujs/buffer';
import { KernelRunner } from '../src/backend/gpujs/runner';
import type { KernelSpec, KernelThis } from '../kernels/kernel';
import { Generator } from '../src';

// ---- 1. The kernel: called once per output element, this.thread.x says which.
// Only the subset gpu.js compiles: numbers, Math.*, let/const, if, for with constant bounds.
function softplus(this: KernelThis<{ n: number }>, x: Float32Array): number {
  const v = x[this.thread.x];
  // log(1 + e^v) overflows e^v for large v; this form never does: max(v, 0) + log(1 + e^-|v|)
  return Math.max(v, 0) + Math.log(1 + Math.exp(-Math.abs(v)));
}

// ---- 2. Its spec: the output grid (one cell per element) and the sizes baked in as constants.
const softplusSpec = (n: number): KernelSpec => ({ name: 'example.softplus', source: softplus, output: [n], constants: { n } });

// ---- 3. Run it on each mode that starts here, and compare with a float64 loop.
const n = 10000;
const g = new Generator(0);
const x = Float32Array.from({ length: n }, () => g.normal() * 30); // some far past where e^x overflows float32
const want = Array.from(x, (v) => (v > 30 ? v : Math.log1p(Math.exp(v))));

for (const mode of ['cpu', 'webasm', 'gpu'] as GpuJsMode[]) {
  const ok = availability(mode);
  if (!ok.ok) {
    console.log(`${mode}: skipped (${ok.reason})`);
    continue;
  }
  const runner = new KernelRunner(mode);
  const t0 = performance.now();
  const out = runner.run(softplusSpec(n), [x]); // compiles on the first call, then reuses the compiled kernel
  const got = out.isTexture ? flattenResult((out.data as { toArray(): unknown }).toArray(), n) : (out.data as Float32Array);
  const ms = performance.now() - t0;
  let worst = 0;
  for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  // JavaScript's and WebAssembly's float32 meet float32 rounding; GLSL's exp and log are only a
  // few ULP accurate by spec, so a GPU gets the 1e-3 that the test suite gives it (test/helpers/backends.ts)
  const tolerance = mode === 'gpu' ? 1e-3 : 1e-5;
  console.log(`${mode}: ${n} elements in ${ms.toFixed(1)} ms (with the compile); worst relative error vs float64 ${worst.toExponential(2)} ${worst < tolerance ? `(within ${tolerance}: ok)` : `(TOO LARGE: over ${tolerance})`}`);
  runner.destroy();
}
