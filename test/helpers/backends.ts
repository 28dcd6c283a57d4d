/**
 * One spec, every backend: `forEachBackend` runs a describe block once per available backend,
 * with that backend current. The reference backend always runs; others are listed in
 * `BACKEND_FACTORIES` and can be chosen with TD_BACKENDS=ref,gpujs-webasm,... (default: all
 * that can start on this machine).
 */
import type { Backend } from '../../src/backend/backend';
import { RefBackend } from '../../src/backend/ref';
import { setBackend } from '../../src/backend/registry';

export interface BackendCase {
  name: string;
  /** returns null (and a reason) when this backend cannot run here */
  create: () => { backend: Backend } | { skip: string };
  /** relative tolerance that float32 kernels on this backend meet against the reference */
  rtol: number;
}

/**
 * A gpu.js backend, made only if its mode can start here (else skipped, saying why). Loaded
 * lazily so that TD_BACKENDS=ref never loads gpu.js.
 */
function gpujs(mode: 'gpu' | 'webasm' | 'cpu'): () => { backend: Backend } | { skip: string } {
  return () => {
    const { availability, GpuJsBackend } = require('../../src/backend/gpujs') as typeof import('../../src/backend/gpujs');
    const ok = availability(mode);
    return ok.ok ? { backend: new GpuJsBackend({ mode }) } : { skip: ok.reason };
  };
}

export const BACKEND_FACTORIES: BackendCase[] = [
  { name: 'ref', create: () => ({ backend: new RefBackend() }), rtol: 1e-5 },
  // float32 everywhere, like ref, but sums accumulate in float32 where ref accumulates in
  // float64 (JS numbers), in another order (tiles, blocks): a sum of k terms of similar size
  // drifts by up to ~k * 2^-24 of their magnitude; the tests' sums have k <= a few hundred.
  // exp/log/sin... come from JavaScript's Math (rounded once to float32).
  { name: 'gpujs-webasm', create: gpujs('webasm'), rtol: 1e-4 },
  // the same kernels translated to JavaScript: the same float32 budget
  { name: 'gpujs-cpu', create: gpujs('cpu'), rtol: 1e-4 },
  // GLSL's exp, log, pow, sin are only a few ULP accurate by spec (pow: 3 + 2|y log2 x| ULP in
  // GLSL ES 3.0) and a GPU may fuse or reorder float32 operations; Mesa llvmpipe in CI meets
  // 1e-4, a real GPU's transcendentals need the 10x margin.
  { name: 'gpujs-gpu', create: gpujs('gpu'), rtol: 1e-3 },
];

const cache = new Map<string, { backend: Backend } | { skip: string }>();

export function selectedBackends(): BackendCase[] {
  const want = process.env.TD_BACKENDS?.split(',').map((s) => s.trim()).filter(Boolean);
  return want ? BACKEND_FACTORIES.filter((b) => want.includes(b.name)) : BACKEND_FACTORIES;
}

export function forEachBackend(title: string, body: (bc: BackendCase) => void): void {
  for (const bc of selectedBackends()) {
    describe(`${title} [${bc.name}]`, function () {
      let previous: Backend | undefined;
      before(function () {
        if (!cache.has(bc.name)) cache.set(bc.name, bc.create());
        const made = cache.get(bc.name)!;
        if ('skip' in made) {
          console.log(`      (skipping ${bc.name}: ${made.skip})`);
          this.skip();
        }
        previous = setBackend((made as { backend: Backend }).backend);
      });
      after(function () {
        if (previous) setBackend(previous);
      });
      body(bc);
    });
  }
}
