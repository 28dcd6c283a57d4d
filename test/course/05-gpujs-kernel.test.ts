/**
 * [assignment 5] A gpu.js kernel (docs/course/05-gpujs-kernel.md): the two softmax kernels
 * of kernels/softmax.ts, run by the gpu.js backend (its JavaScript mode, and WebAssembly where
 * it starts), against a float64 loop.
 */
import { expect } from 'chai';
import { availability, GpuJsBackend } from '../../src/backend/gpujs';
import { Generator } from '../../src';

/** softmax of each row, in float64 */
function softmaxLoop(x: Float32Array, rows: number, n: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.from(x.subarray(r * n, (r + 1) * n));
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    out.push(...e.map((v) => v / s));
  }
  return out;
}

describe('[assignment 5: a gpu.js kernel: softmax]', () => {
  for (const mode of ['cpu', 'webasm'] as const) {
    const ok = availability(mode);
    (ok.ok ? it : it.skip)(`gpujs:${mode}: rows of 7, 49 and 1200 (a loop longer than 1000), logits up to 80 do not overflow`, () => {
      const b = new GpuJsBackend({ mode });
      const g = new Generator(5);
      for (const [rows, n, scale] of [[3, 7, 1], [5, 49, 10], [2, 1200, 80]]) {
        const x = Float32Array.from({ length: rows * n }, () => g.normal() * scale);
        const got = b.toArray(b.softmax(b.fromArray(x), rows, n), rows * n);
        const want = softmaxLoop(x, rows, n);
        got.forEach((v, i) => expect(v, `[${rows}, ${n}] element ${i}`).to.be.closeTo(want[i], 2e-6 + 1e-4 * want[i]));
        for (let r = 0; r < rows; r++) {
          const sum = Array.from(got.subarray(r * n, (r + 1) * n)).reduce((a, c) => a + c, 0);
          expect(sum, `row ${r} sums to 1`).to.be.closeTo(1, 1e-4);
        }
      }
    });
  }
});
