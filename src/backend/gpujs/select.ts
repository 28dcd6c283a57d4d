/**
 * createBackend(spec): a backend by name, with the reason it was chosen.
 *
 *   ref            the plain-TypeScript reference backend
 *   gpujs          gpujs:webasm (runs everywhere; the GPU is asked for by name)
 *   gpujs:gpu      gpu.js on WebGL (headless-gl in Node); throws, saying what is missing, if unavailable
 *   gpujs:webasm   gpu.js on WebAssembly SIMD (CPU)
 *   gpujs:cpu      gpu.js's JavaScript translation (slow; for stepping through kernels in a debugger)
 *   auto           time a small conv + matmul on each backend that starts here, keep the fastest
 *
 * gpu.js on its own falls back silently (asked for a GPU without one, it runs on the CPU);
 * here an explicit request either gets what it asked for or an error that says why not.
 * This module loads gpu.js only when a gpujs backend is asked for.
 */
import type { Backend } from '../backend';
import { RefBackend } from '../ref';
import { availability, type GpuJsMode } from './availability';
import type { GpuJsBackendOptions } from './backend';

export const BACKEND_SPECS = ['ref', 'gpujs', 'gpujs:gpu', 'gpujs:webasm', 'gpujs:cpu', 'auto'] as const;
export type BackendSpec = (typeof BACKEND_SPECS)[number];

export interface BackendChoice {
  backend: Backend;
  /** the concrete spec that was made, e.g. 'gpujs:webasm' for 'auto' */
  spec: Exclude<BackendSpec, 'gpujs' | 'auto'>;
  /** why this one: 'requested', or what auto measured / what was unavailable */
  reason: string;
}

function makeGpuJs(mode: GpuJsMode, options: Omit<GpuJsBackendOptions, 'mode'>): Backend {
  // loaded here so that the reference backend never pulls in gpu.js
  const { GpuJsBackend } = require('./backend') as typeof import('./backend');
  return new GpuJsBackend({ ...options, mode });
}

export function createBackend(spec: string, options: Omit<GpuJsBackendOptions, 'mode'> = {}): BackendChoice {
  if (!(BACKEND_SPECS as readonly string[]).includes(spec)) {
    throw new Error(`createBackend: unknown backend "${spec}"; expected one of ${BACKEND_SPECS.join(', ')}`);
  }
  switch (spec as BackendSpec) {
    case 'ref':
      return { backend: new RefBackend(), spec: 'ref', reason: 'requested' };
    case 'gpujs:gpu':
    case 'gpujs:webasm':
    case 'gpujs:cpu': {
      const mode = spec.slice('gpujs:'.length) as GpuJsMode;
      return { backend: makeGpuJs(mode, options), spec: spec as BackendChoice['spec'], reason: 'requested' };
    }
    case 'gpujs':
      return { backend: makeGpuJs('webasm', options), spec: 'gpujs:webasm', reason: 'gpujs means gpujs:webasm; ask for gpujs:gpu for WebGL' };
    case 'auto':
      return chooseFastest(options);
  }
}

/**
 * The probe: a 3x3 convolution [4, 16, 14, 14] -> 16 channels and a [64, 64] x [64, 64]
 * matmul, each timed (best of 3) after one warm-up call that compiles; about 10 MFLOP, tens of
 * ms per backend. Small, so timings are rough: it separates a real GPU, llvmpipe and webasm.
 */
function probeMs(backend: Backend): number {
  const x = backend.fromArray(Float32Array.from({ length: 4 * 16 * 14 * 14 }, (_, i) => Math.sin(i)));
  const w = backend.fromArray(Float32Array.from({ length: 16 * 16 * 9 }, (_, i) => Math.cos(i)));
  const a = backend.fromArray(Float32Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i * 0.3)));
  const conv = { n: 4, cin: 16, h: 14, w: 14, cout: 16, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, oh: 14, ow: 14 };
  const mm = { batch: 1, m: 64, k: 64, n: 64, transA: false, transB: false, broadcastA: false, broadcastB: false };
  const once = () => {
    const y = backend.conv2d(x, w, conv);
    const c = backend.matmul(a, a, mm);
    backend.toArray(y, 1); // wait for the device
    backend.toArray(c, 1);
    backend.free?.(y);
    backend.free?.(c);
  };
  once();
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    once();
    best = Math.min(best, performance.now() - t0);
  }
  for (const b of [x, w, a]) backend.free?.(b);
  return best;
}

function chooseFastest(options: Omit<GpuJsBackendOptions, 'mode'>): BackendChoice {
  const candidates: { spec: BackendChoice['spec']; make: () => Backend }[] = [{ spec: 'ref', make: () => new RefBackend() }];
  const notes: string[] = [];
  for (const mode of ['gpu', 'webasm'] as GpuJsMode[]) {
    const ok = availability(mode);
    if (ok.ok) candidates.push({ spec: `gpujs:${mode}`, make: () => makeGpuJs(mode, options) });
    else notes.push(`gpujs:${mode} unavailable (${ok.reason})`);
  }
  const timed: { spec: BackendChoice['spec']; backend: Backend; ms: number }[] = [];
  for (const c of candidates) {
    try {
      const backend = c.make();
      timed.push({ spec: c.spec, backend, ms: probeMs(backend) });
    } catch (e) {
      notes.push(`${c.spec} failed to start (${(e as Error).message})`);
    }
  }
  timed.sort((p, q) => p.ms - q.ms);
  const [best, ...rest] = timed;
  for (const r of rest) (r.backend as { destroy?: () => void }).destroy?.();
  const times = timed.map((t) => `${t.spec} ${t.ms.toFixed(1)} ms`).join(', ');
  const reason = `auto: fastest on a small conv + matmul probe (${times})${notes.length ? '; ' + notes.join('; ') : ''}`;
  return { backend: best.backend, spec: best.spec, reason };
}
