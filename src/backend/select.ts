/**
 * Choosing a backend by name, for the command line and the examples:
 *   ref            the plain-TypeScript reference backend
 *   gpujs:<mode>   gpu.js kernels: webasm (WebAssembly SIMD), gpu (WebGL: headless GL in Node), cpu (plain JS)
 *   gpujs          gpujs:webasm
 *   auto           the fastest that works here, with the reason
 * gpu.js itself falls back silently when a mode is unavailable; we never do: asking for a
 * mode that cannot run is an error that says what is missing.
 */
import type { Backend } from './backend';
import { RefBackend } from './ref';

export const BACKEND_SPECS = ['ref', 'gpujs', 'gpujs:webasm', 'gpujs:gpu', 'gpujs:cpu', 'auto'] as const;

export interface ResolvedBackend {
  backend: Backend;
  /** why this backend (for auto: what was tried) */
  reason: string;
}

export function resolveBackend(spec: string): ResolvedBackend {
  if (!(BACKEND_SPECS as readonly string[]).includes(spec)) {
    throw new Error(`backend: unknown backend '${spec}'; valid: ${BACKEND_SPECS.join(', ')}`);
  }
  if (spec === 'ref') return { backend: new RefBackend(), reason: 'asked for' };
  // loaded only when asked for, so that the reference backend never loads gpu.js
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const gpujs = require('./gpujs/select') as { createBackend(spec: string): ResolvedBackend };
  return gpujs.createBackend(spec);
}
