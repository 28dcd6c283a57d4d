/**
 * Choosing a backend by name, for the command line and the examples:
 *   ref            the plain-TypeScript reference backend
 *   gpujs:<mode>   gpu.js kernels: webasm (WebAssembly SIMD), gpu (WebGL: headless GL in Node), cpu (plain JS)
 *   gpujs          gpujs:webasm
 *   auto           the fastest that works here, with the reason
 * gpu.js itself falls back silently when a mode is unavailable; we never do: asking for a
 * mode that cannot run is an error that says what is missing. The implementation lives with
 * the gpu.js backend (src/backend/gpujs/select.ts), which loads gpu.js only when a gpujs
 * backend is asked for.
 */
export { createBackend as resolveBackend, BACKEND_SPECS } from './gpujs/select';
export type { BackendChoice as ResolvedBackend, BackendSpec } from './gpujs/select';
