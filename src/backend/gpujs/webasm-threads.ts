/**
 * One webasm kernel call on two cores, synchronously.
 *
 * gpu.js can split a webasm kernel over worker threads, but only behind its async contract
 * (every call returns a Promise), and the tensor library is synchronous. This file adds a
 * synchronous split: a kernel marked `tinyDdpmThreads = 2` gets its module built over a
 * shared WebAssembly.Memory (gpu.js's own threaded build, which it makes when `_threadable()`
 * is true), and a call
 *   1. copies the arguments into that memory, as the stock call does,
 *   2. hands the second half of the output rows to one helper thread, which runs the same
 *      compiled module on the same memory (instantiated there once per kernel shape),
 *   3. runs the first half here, then waits (Atomics.wait) for the helper's done word,
 *   4. copies the output out, as the stock call does.
 * The halves are whole rows of the output grid (a SIMD quad never crosses a row), so every
 * cell is computed by exactly the code that would compute it on one thread: the result is
 * the same, bit for bit (test/gpujs-patch.test.ts).
 *
 * Only for a process that has a core to spare: DataParallel training already runs one thread
 * per core, so the trainer never asks for it; bench/kernels.ts measures it (gpujs:webasm-x2).
 * Like DataParallel it wants Node's --single-threaded-gc; starting the helper without it warns
 * once (src/single-threaded-gc.ts).
 * Kernels with fewer than MIN_CELLS output cells run on one thread (a hand-off costs about
 * as much as a small kernel).
 */
import { Worker } from 'worker_threads';
import { warnWithoutSingleThreadedGc } from '../../single-threaded-gc';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { WebAssemblyKernel } = require('gpu.js/src/backend/web-assembly/kernel');

/** Below this many output cells a kernel runs on one thread. */
export const MIN_CELLS = 4096;

/** The helper: instantiates modules on request, runs row ranges, answers through the control words. */
const HELPER_SOURCE = `
const { parentPort } = require('worker_threads');
const entries = new Map();
let control = null;
${runRows.toString()}
parentPort.on('message', (m) => {
  if (m.type === 'control') control = new Int32Array(m.buffer);
  else if (m.type === 'setup') {
    const imports = { env: { memory: m.memory } };
    for (const name of m.mathImports) imports.env['math_' + name] = Math[name];
    const exports = new WebAssembly.Instance(m.module, imports).exports;
    entries.set(m.id, { run: exports.run, runSimd: exports.run_simd || null });
  } else if (m.type === 'release') entries.delete(m.id);
  else if (m.type === 'run') {
    let status = 1;
    try {
      runRows(entries.get(m.id), m.start, m.end, m.sizeX, m.seed);
    } catch (err) {
      status = 2;
    }
    Atomics.store(control, 0, status);
    Atomics.notify(control, 0);
  }
});
`;

interface Helper {
  worker: Worker;
  /** [0]: 0 while a run is in flight, 1 done, 2 failed */
  control: Int32Array;
  /** entry ids the helper has instantiated */
  ready: Set<number>;
}

let helper: Helper | null = null;

function getHelper(): Helper {
  if (helper) return helper;
  warnWithoutSingleThreadedGc('webasm kernels on two threads (webasmThreads: 2)');
  const worker = new Worker(HELPER_SOURCE, { eval: true });
  worker.unref();
  const control = new Int32Array(new SharedArrayBuffer(8));
  worker.postMessage({ type: 'control', buffer: control.buffer });
  const h: Helper = { worker, control, ready: new Set() };
  worker.on('exit', () => {
    if (helper === h) helper = null;
  });
  helper = h;
  return h;
}

/**
 * Cells [start, end) (whole rows of the grid) on this thread: one SIMD span when rows are whole
 * quads, else a span and a scalar tail per row (gpu.js's dispatchSpans). The helper runs the
 * same function (its source is part of HELPER_SOURCE).
 */
function runRows(entry: any, start: number, end: number, sizeX: number, seed: number): void {
  if (entry.runSimd && (sizeX & 3) === 0) {
    if (end > start) entry.runSimd(start, end, seed);
    return;
  }
  const quads = sizeX & ~3;
  for (let at = start; at < end; at += sizeX) {
    if (entry.runSimd && quads > 0) entry.runSimd(at, at + quads, seed);
    if (quads < sizeX) entry.run(at + quads, at + sizeX, seed);
  }
}

/** How long a call waits for the helper before it gives up (a helper that died cannot answer). */
const HELPER_TIMEOUT_MS = 120_000;

let applied = false;

/** Install the synchronous two-thread path on gpu.js's WebAssemblyKernel (once; inert for kernels not marked). */
export function applyWebasmThreads(): void {
  if (applied) return;
  applied = true;
  const P = WebAssemblyKernel.prototype;
  const stockThreadable = P._threadable;
  P._threadable = function (this: any) {
    if (this.tinyDdpmThreads > 1) {
      const [tx, ty, tz] = this.threadDim;
      return typeof SharedArrayBuffer !== 'undefined' && tx * ty * tz >= MIN_CELLS && ty * tz >= 2;
    }
    return stockThreadable.call(this);
  };
  const stockRunThreaded = P._runThreaded;
  P._runThreaded = function (this: any, args: any[]) {
    if (!(this.tinyDdpmThreads > 1)) return stockRunThreaded.call(this, args);
    return runTwoThreads(this, args);
  };
  const stockRelease = P._releaseEntry;
  P._releaseEntry = function (this: any, entry: any) {
    if (this.tinyDdpmThreads > 1 && helper?.ready.has(entry.id)) {
      helper.ready.delete(entry.id);
      helper.worker.postMessage({ type: 'release', id: entry.id });
    }
    return stockRelease.call(this, entry);
  };
}

function runTwoThreads(kernel: any, args: any[]): Float32Array {
  const entry = kernel._active;
  const { layout, cells, f32, i32 } = entry;
  // 1. the arguments into the shared memory (the stock sync call's copy)
  for (const name in layout.arrays) {
    const record = layout.arrays[name];
    f32.set(args[record.index], record.offset / 4);
  }
  for (const name in layout.scalars) {
    const record = layout.scalars[name];
    const value = args[record.index];
    if (record.type === 'Integer') i32[record.offset / 4] = value | 0;
    else if (record.type === 'Boolean') i32[record.offset / 4] = value ? 1 : 0;
    else f32[record.offset / 4] = value;
  }
  const seed = kernel.usesRandom ? (kernel.randomSeed !== null ? kernel.randomSeed >>> 0 : (Math.random() * 0x100000000) >>> 0) | 0 : 0;
  // 2. the second half of the rows to the helper
  const sizeX = entry.sizeX;
  const rows = cells / sizeX;
  const split = Math.ceil(rows / 2) * sizeX;
  const h = getHelper();
  if (!h.ready.has(entry.id)) {
    h.worker.postMessage({ type: 'setup', id: entry.id, module: entry.module, memory: entry.memory, mathImports: entry.mathImports });
    h.ready.add(entry.id);
  }
  Atomics.store(h.control, 0, 0);
  h.worker.postMessage({ type: 'run', id: entry.id, start: split, end: cells, sizeX, seed });
  // 3. the first half here, then wait for the helper
  runRows(entry, 0, split, sizeX, seed);
  const t0 = Date.now();
  while (Atomics.load(h.control, 0) === 0) {
    Atomics.wait(h.control, 0, 0, 100);
    if (Date.now() - t0 > HELPER_TIMEOUT_MS) throw new Error(`webasm two-thread kernel: the helper thread did not finish rows ${split / sizeX}..${rows} in ${HELPER_TIMEOUT_MS / 1000} s`);
  }
  if (Atomics.load(h.control, 0) === 2) throw new Error('webasm two-thread kernel: the helper thread failed to run its rows (a WebAssembly trap)');
  kernel._lastRunPath = 'two-threads';
  // 4. the output out (the stock copy)
  const base = layout.outputOffset / 4;
  return kernel._shapeOutput(f32.slice(base, base + cells * kernel.componentCount), Array.from(kernel.output), kernel.componentCount);
}
