/** The gpu.js backend (issue 3): kernels from kernels/, compiled and run by gpu.js. */
export { GpuJsBackend, type GpuJsBackendOptions } from './backend';
export { availability, glAvailability, type Availability, type GpuJsMode } from './availability';
export { createBackend, BACKEND_SPECS, type BackendChoice, type BackendSpec } from './select';
export type { KernelStat } from './runner';
