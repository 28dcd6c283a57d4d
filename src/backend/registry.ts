/**
 * Which backend new tensors live on. The reference backend is the default; the gpu.js
 * backend is loaded on demand (src/backend/gpujs) so that using the library on the
 * reference backend never loads gpu.js.
 */
import type { Backend } from './backend';
import { RefBackend } from './ref';

let current: Backend = new RefBackend();

export function getBackend(): Backend {
  return current;
}

/** Make `backend` the one that new tensors are created on. Returns the previous one. */
export function setBackend(backend: Backend): Backend {
  const prev = current;
  current = backend;
  return prev;
}

/** Run fn with `backend` as the current backend, then restore the previous one. */
export function withBackend<T>(backend: Backend, fn: () => T): T {
  const prev = setBackend(backend);
  try {
    return fn();
  } finally {
    setBackend(prev);
  }
}
