/**
 * Compiles and runs the kernels of kernels/ with gpu.js, in one of three modes:
 *
 *   gpu     WebGL through headless-gl in Node (or the browser's WebGL); buffers are textures
 *   webasm  WebAssembly with 4-lane SIMD on the CPU; buffers are Float32Arrays
 *   cpu     gpu.js's JavaScript translation: a `debugger;` statement in a kernel stops there
 *
 * A kernel is compiled once per (kernel, shape): gpu.js bakes the output size, every argument's
 * size and our `constants` into the compiled code, and an argument that changes size breaks a
 * compiled kernel ("offset is out of bounds" on GL). So the cache key is the spec's name, its
 * output and constants, and the sizes of the arguments.
 *
 * The traps of gpu.js 2.24.1 (kernels/README.md has the measurements) and how they are avoided here:
 * - loops over 1000 iterations: every loop bound is a constant (kernels/kernel.ts), and
 *   loopMaxIterations is raised above every constant anyway;
 * - output reuse: kernels are `immutable`, so each call returns a new texture (gpu.js
 *   reference-counts the texture it keeps for its next call); free() deletes ours;
 * - feeding a kernel its own output: immutable kernels render into a fresh texture when an
 *   argument is the texture they hold;
 * - size changes: part of the cache key, never a resized kernel;
 * - silent fallback: after the first call we check which gpu.js kernel class actually ran,
 *   and throw if gpu.js quietly degraded (e.g. webasm -> cpu).
 */
import { GPU } from 'gpu.js';
import type { KernelSpec } from '../../../kernels/kernel';
import { realCells, untile4Host, untile4RowMajor, untile4Spec, type TileGrid } from '../../../kernels/tiles';
import type { GpuJsMode } from './availability';
import { flattenResult, GpuBuf } from './buffer';
import { assertWebasmPatchTarget, patchedConstantTypes, webasmFmaDefault, webasmPairsDefault, webasmPatchDefault, webasmPatchStats, withWebasmPatch } from './webasm-codegen-patch';
import { applyWebasmThreads } from './webasm-threads';

export type KernelArg = GpuBuf | Float32Array | number;

/**
 * webasm output without the nesting. gpu.js's WebAssemblyKernel hands back a 2-D/3-D or
 * Array(n) output as nested JavaScript arrays of Float32Array views, one view per Array(4)
 * cell (or per row): for a conv or matmul tile grid that is ~10^5-10^6 objects per call, which
 * took as long as the kernel's arithmetic (a [64] x [64,32] x [32,784] matmul: 166 ms, ~120 of
 * them making views). The flat data it nests is a fresh copy of the kernel's output region, in
 * row-major order, so kernels we build get it as is (flattenResult then takes it whole).
 * Kernels that gpu.js rebuilds behind our back (a new kernel object) just nest again.
 */
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { WebAssemblyKernel } = require('gpu.js/src/backend/web-assembly/kernel');
const stockShapeOutput = WebAssemblyKernel.prototype._shapeOutput;
if (!WebAssemblyKernel.prototype.tinyDdpmFlatOutputPatched) {
  WebAssemblyKernel.prototype.tinyDdpmFlatOutputPatched = true;
  WebAssemblyKernel.prototype._shapeOutput = function (this: any, data: Float32Array, output: number[], componentCount: number) {
    return this.tinyDdpmFlatOutput ? data : stockShapeOutput.call(this, data, output, componentCount);
  };
}

/** Kernels compute indices in float32 (all a GPU shader may have), exact for integers below 2^24. */
export const MAX_EXACT_INDEX = 2 ** 24;

export interface KernelStat {
  /** spec name, e.g. 'conv2d.forward' */
  kernel: string;
  calls: number;
  /** how many (shape) variants were compiled */
  compiles: number;
  /** total ms spent in first calls, which compile (and run once) */
  compileMs: number;
  /** total ms inside the compiled kernel on warm calls (argument copy-in, compute, copy-out) */
  runMs: number;
  /** total ms laying the output out on the host (flatten, untile4) or in untile4 (GL) */
  outputMs: number;
  /** output floats written, all calls */
  floats: number;
}

export interface RunnerOptions {
  mode: GpuJsMode;
  /** log each compile (kernel, mode, output size, ms); also TINY_DDPM_DEBUG_KERNELS=1 */
  debug?: boolean;
  log?: (line: string) => void;
  /**
   * CPU modes: each compiled webasm kernel keeps its own WebAssembly memory holding copies of
   * its last arguments and output. Past this many bytes the least recently used kernels are
   * destroyed (and recompiled if needed again). Default 1 GiB.
   */
  kernelCacheBytes?: number;
  /**
   * CPU modes: at most this many compiled kernels at once (least recently used go first).
   * Each webasm kernel's WebAssembly memory reserves gigabytes of address space, and a
   * Chromium tab refuses new memories after about 125 (measured: "WebAssembly.Memory(): could
   * not allocate memory"), where Node takes thousands. Default: unlimited in Node, 64 in a browser.
   */
  maxKernels?: number;
  /**
   * webasm only: build kernels with the code-generator patch of webasm-codegen-patch.ts
   * (integer index math, vector loads). Default on; TINY_DDPM_WEBASM_PATCH=0 turns it off.
   */
  webasmPatch?: boolean;
  /**
   * webasm with the patch: compile `s += x * y` on vectors as fused multiply-adds (relaxed
   * SIMD; rounds once instead of twice, so results differ from stock gpu.js in the last bits).
   * Default on; TINY_DDPM_WEBASM_FMA=0 turns it off.
   */
  webasmFma?: boolean;
  /**
   * webasm with the patch: compile a kernel's SIMD code for two quads (8 cells) per call (M),
   * which gives a register-tiled kernel 8 independent sums instead of 4; the same results bit
   * for bit. true (the default): the kernels whose spec asks (KernelSpec.pairQuads, where it
   * measured faster); 'all': every kernel the patch can pair (the tests); false: none.
   * TINY_DDPM_WEBASM_PAIRS=0 makes the default false.
   */
  webasmPairs?: boolean | 'all';
  /**
   * webasm: run the register-tiled kernels (matmul, convolutions) of at least 4096 output cells
   * on this many threads (1 or 2; webasm-threads.ts). Default 1: the trainer already runs one
   * thread per core.
   */
  webasmThreads?: number;
  /**
   * webasm with the patch: store register tiles row-major (K). Default on; off only to test
   * that the runner lays out each kernel's output as its code actually stores it.
   */
  webasmRowMajorTiles?: boolean;
}

interface CachedKernel {
  kernel: any;
  bytes: number;
  /** a tile4 kernel: whether its code stores the tiles row-major (patch K ran for it) or as gpu.js lays them out */
  rowMajor: boolean;
}

/**
 * How a tile4 webasm kernel's output is laid out, from what the patch's K rewrite did while
 * its code was generated: in both the scalar and the SIMD code (row-major), in neither (gpu.js's
 * layout), or in one only, which would mix the two layouts and is refused. `simd`: whether
 * gpu.js generated SIMD code at all.
 */
export function tileLayoutOf(name: string, scalarRowMajor: boolean, simdRowMajor: boolean, simd: boolean): boolean {
  if (scalarRowMajor && (simdRowMajor || !simd)) return true;
  if (!scalarRowMajor && !simdRowMajor) return false;
  throw new Error(`gpujs: kernel ${name}: the webasm patch stored its tiles row-major in the ${scalarRowMajor ? 'scalar' : 'SIMD'} code but not in the ${scalarRowMajor ? 'SIMD' : 'scalar'} code, so its output would mix two layouts; this gpu.js generates code the patch does not know (TINY_DDPM_WEBASM_PATCH=0 gives stock code generation)`);
}

/** A page (which has a window), not Node. */
const inBrowser = () => typeof (globalThis as any).window !== 'undefined';

/** gpu.js's own mode names, and the kernel class each one must end up running. */
function gpuJsMode(mode: GpuJsMode): { mode: string; kernelClass: string } {
  if (mode === 'webasm') return { mode: 'webasm', kernelClass: 'WebAssemblyKernel' };
  if (mode === 'cpu') return { mode: 'cpu', kernelClass: 'CPUKernel' };
  if (!inBrowser()) return { mode: 'headlessgl', kernelClass: 'HeadlessGLKernel' };
  return GPU.isWebGL2Supported ? { mode: 'webgl2', kernelClass: 'WebGL2Kernel' } : { mode: 'webgl', kernelClass: 'WebGLKernel' };
}

export class KernelRunner {
  readonly gpu: any;
  readonly onGL: boolean;
  readonly gpuJsMode: string;
  private readonly kernelClass: string;
  private readonly cache = new Map<string, CachedKernel>();
  private readonly stats = new Map<string, KernelStat>();
  private cachedBytes = 0;
  private readonly cacheLimit: number;
  private readonly maxKernels: number;
  private readonly debug: boolean;
  private readonly log: (line: string) => void;
  private destroyed = false;
  /** webasm kernels are generated (and regenerated) with the patch active */
  readonly webasmPatch: boolean;
  /** with the patch: `s += x * y` on vectors as fused multiply-adds (I) */
  readonly webasmFma: boolean;
  /** with the patch: two quads per SIMD call (M) for the kernels that ask, or for all it can pair */
  readonly webasmPairs: boolean | 'all';
  readonly webasmThreads: number;
  readonly webasmRowMajorTiles: boolean;
  /** tile4 kernels by name: whether their compiled code stores row-major (what layOut relies on) */
  private readonly tileLayouts = new Map<string, 'row-major' | 'gpu.js'>();
  private liveTextures = 0;
  private liveTextureFloats = 0;
  /** Textures nobody freed (temporaries, or a Storage that never got its free()) go when their GpuBuf is collected. */
  private readonly textureRegistry = new FinalizationRegistry<{ texture: any; size: number }>((held) => this.releaseTexture(held.texture, held.size));

  constructor(readonly mode: GpuJsMode, options: Omit<RunnerOptions, 'mode'> = {}) {
    const m = gpuJsMode(mode);
    this.gpuJsMode = m.mode;
    this.kernelClass = m.kernelClass;
    this.onGL = mode === 'gpu';
    this.gpu = new GPU({ mode: m.mode as any });
    this.debug = options.debug ?? (typeof process !== 'undefined' && process.env?.TINY_DDPM_DEBUG_KERNELS === '1');
    this.log = options.log ?? ((line) => console.error(line));
    this.cacheLimit = options.kernelCacheBytes ?? 1 << 30;
    this.maxKernels = options.maxKernels ?? (inBrowser() ? 64 : Infinity);
    this.webasmPatch = mode === 'webasm' && (options.webasmPatch ?? webasmPatchDefault());
    this.webasmFma = this.webasmPatch && (options.webasmFma ?? webasmFmaDefault());
    this.webasmRowMajorTiles = this.webasmPatch && (options.webasmRowMajorTiles ?? true);
    this.webasmPairs = this.webasmPatch ? options.webasmPairs ?? webasmPairsDefault() : false;
    if (this.webasmPatch) assertWebasmPatchTarget(); // a gpu.js the patch was not written for is refused here, with what to do
    this.webasmThreads = mode === 'webasm' ? options.webasmThreads ?? 1 : 1;
    if (!(this.webasmThreads === 1 || this.webasmThreads === 2)) throw new Error(`gpujs: webasmThreads must be 1 or 2, got ${options.webasmThreads}`);
    if (this.webasmThreads > 1) applyWebasmThreads();
  }

  /** Call a compiled kernel; gpu.js generates code on first calls, so webasm calls run with the patch flag. */
  private call(kernel: any, values: unknown[], spec: KernelSpec): any {
    if (this.mode !== 'webasm') return kernel(...values);
    return withWebasmPatch(this.webasmPatch, () => kernel(...values), this.webasmFma, spec.nonNegative, !!spec.tile4 && this.webasmRowMajorTiles, this.webasmPairs === 'all' || (this.webasmPairs && spec.pairQuads === true));
  }

  /** How each tile4 kernel compiled so far stores its tiles: 'row-major' (patch K) or 'gpu.js' (stock). */
  kernelTileLayouts(): Record<string, 'row-major' | 'gpu.js'> {
    return Object.fromEntries(this.tileLayouts);
  }

  /**
   * A GpuBuf around new device data. A texture is also watched by the finalization registry,
   * and carries an ArrayBuffer of one byte per number: the garbage collector cannot see GPU
   * memory, and without that weight it ran too rarely to free dropped tensors' textures
   * (unet-tiny on GL, batch 4, a training loop that yields between steps: +1500 textures and
   * +140 MB per step; with it they level off at about 2600-4700 textures, ~1.1 GB RSS).
   */
  wrap(size: number, data: Float32Array | any): GpuBuf {
    const buf = new GpuBuf(size, data);
    if (buf.isTexture) {
      this.liveTextures++;
      this.liveTextureFloats += size;
      this.textureRegistry.register(buf, { texture: data, size }, buf);
      buf.gcWeight = new ArrayBuffer(size);
    }
    return buf;
  }

  /** Release a buffer now: deletes its texture (GL); a host array is just dropped. */
  free(buf: GpuBuf): void {
    if (buf.freed) return;
    buf.freed = true;
    if (buf.isTexture) {
      this.textureRegistry.unregister(buf);
      this.releaseTexture(buf.data, buf.size);
    }
    buf.data = new Float32Array(0);
    buf.gcWeight = undefined;
  }

  private releaseTexture(texture: any, size: number): void {
    this.liveTextures--;
    this.liveTextureFloats -= size;
    if (!this.destroyed) texture.delete();
  }

  /**
   * Textures made and not yet freed or collected (GL; 0 in the CPU modes, whose buffers are
   * ordinary garbage-collected arrays), and the compiled-kernel cache.
   */
  memoryStats(): { liveTextures: number; liveTextureFloats: number; cachedKernels: number; kernelCacheBytes: number } {
    return { liveTextures: this.liveTextures, liveTextureFloats: this.liveTextureFloats, cachedKernels: this.cache.size, kernelCacheBytes: this.cachedBytes };
  }

  kernelStats(): KernelStat[] {
    return [...this.stats.values()].sort((a, b) => b.compileMs - a.compileMs);
  }

  /** Run a spec on its arguments; returns a new buffer of the spec's output, laid out row-major. */
  run(spec: KernelSpec, args: KernelArg[]): GpuBuf {
    const cells = spec.output.reduce((a, b) => a * b, 1);
    const rows = spec.tile4 ? spec.tile4.rows : 0;
    const grid: TileGrid | null = spec.tile4 ? { x: spec.output[0], yb: spec.output[1], z: spec.output[2] ?? 1, rows, width: spec.tile4.width, pitch: spec.tile4.pitch } : null;
    const size = grid ? grid.z * rows * realCells(grid) : cells;
    if (cells === 0 || size === 0) return this.wrap(0, new Float32Array(0));
    const largest = Math.max(cells * (spec.tile4 ? 4 : 1), ...args.map((a) => (a instanceof GpuBuf ? a.size : a instanceof Float32Array ? a.length : 0)));
    if (largest > MAX_EXACT_INDEX) {
      throw new Error(`${spec.name}: a buffer of ${largest} numbers is too large for the gpu.js backend: kernels index in float32, exact only below 2^24 = ${MAX_EXACT_INDEX}`);
    }
    const values = args.map((a) => {
      if (a instanceof GpuBuf) {
        if (a.freed) throw new Error(`${spec.name}: an argument was freed (disposed tensor, or storage collected while still in use)`);
        return a.data;
      }
      return a;
    });
    // a GL kernel is compiled for its input textures' kinds and shapes: the same number of floats
    // from a 1-D and from a 2-D output grid are different texture classes (even an [n, 1] grid),
    // and gpu.js refuses a texture of another class than the one it compiled for, so each gets its own kernel
    const shapeOf = (a: GpuBuf) => {
      const tex = a.data as any;
      return a.isTexture ? `${a.size}@${tex.constructor.name}:${tex.size}/${tex.dimensions}` : a.size;
    };
    const sizes = args.map((a) => (a instanceof GpuBuf ? shapeOf(a) : a instanceof Float32Array ? a.length : 's')).join(',');
    const key = `${spec.name}|${spec.output.join('x')}|${JSON.stringify(spec.constants)}|${sizes}`;
    let stat = this.stats.get(spec.name);
    if (!stat) this.stats.set(spec.name, (stat = { kernel: spec.name, calls: 0, compiles: 0, compileMs: 0, runMs: 0, outputMs: 0, floats: 0 }));
    stat.calls++;

    let cached = this.cache.get(key);
    let result: any;
    if (cached) {
      this.cache.delete(key); // re-insert: the Map's order is least recently used first
      this.cache.set(key, cached);
      const t0 = performance.now();
      result = this.call(cached.kernel, values, spec);
      stat.runMs += performance.now() - t0;
    } else {
      const t0 = performance.now();
      const kernel = this.compile(spec);
      // a tile4 webasm kernel: what the patch's K rewrite did while gpu.js generated its code (in the first call)
      const before = spec.tile4 && this.mode === 'webasm' ? webasmPatchStats() : null;
      result = this.call(kernel, values, spec);
      const ms = performance.now() - t0;
      let rowMajor = false;
      if (before) {
        const after = webasmPatchStats();
        rowMajor = tileLayoutOf(spec.name, after.rowMajorAddresses > before.rowMajorAddresses, after.rowMajorStores > before.rowMajorStores, !!kernel.kernel?.constructor?.isSIMDSupported);
        this.tileLayouts.set(spec.name, rowMajor ? 'row-major' : 'gpu.js');
      }
      this.checkNoFallback(kernel, spec);
      stat.compiles++;
      stat.compileMs += ms;
      if (this.debug) this.log(`[tiny-ddpm gpujs] compiled ${spec.name} (${this.gpuJsMode}) output [${spec.output}] args [${sizes}] in ${ms.toFixed(1)} ms`);
      const argFloats = args.reduce<number>((s, a) => s + (a instanceof GpuBuf ? a.size : a instanceof Float32Array ? a.length : 0), 0);
      cached = { kernel, bytes: 4 * (argFloats + cells * (spec.tile4 ? 4 : 1)), rowMajor };
      this.cache.set(key, cached);
      this.cachedBytes += cached.bytes;
      this.evict();
    }

    stat.floats += size;
    const t1 = performance.now();
    try {
      return this.layOut(spec, result, cells, size, grid, cached.rowMajor);
    } finally {
      stat.outputMs += performance.now() - t1;
    }
  }

  private layOut(spec: KernelSpec, result: any, cells: number, size: number, grid: TileGrid | null, rowMajor: boolean): GpuBuf {
    if (!grid) return this.wrap(size, this.onGL ? result : flattenResult(result, size));
    // a webasm kernel whose code the patch's K rewrite made store row-major (recorded when it was
    // generated); stock webasm and cpu mode as gpu.js lays the tiles out
    if (rowMajor) return this.wrap(size, untile4RowMajor(flattenResult(result, cells * 4), grid));
    if (!this.onGL) return this.wrap(size, untile4Host(flattenResult(result, cells * 4), grid));
    // GL: lay the tiles out row-major on the GPU, then drop the tile texture
    const tiles = this.wrap(cells * 4, result);
    try {
      return this.run(untile4Spec(grid), [tiles]);
    } finally {
      this.free(tiles);
    }
  }

  private compile(spec: KernelSpec): any {
    const largestConstant = Math.max(0, ...Object.values(spec.constants));
    const settings: Record<string, unknown> = {
      output: spec.output,
      constants: spec.constants,
      pipeline: true,
      immutable: true,
      precision: 'single',
      // highp in the shader: the default picks the lowest precision the output allows
      tactic: 'precision',
      // only relevant to loops with a non-constant bound, which the kernels avoid
      loopMaxIterations: Math.max(1000, largestConstant + 1),
    };
    if (this.webasmPatch) settings.constantTypes = patchedConstantTypes(spec.constants);
    if (spec.tile4) settings.returnType = 'Array(4)';
    // GL: pack 4 numbers per RGBA float texel instead of 1 (4x less GPU memory; measured faster)
    else if (this.onGL) settings.optimizeFloatMemory = true;
    const kernel = this.gpu.createKernel(spec.source, settings);
    if (this.mode === 'webasm' && kernel.kernel) {
      kernel.kernel.tinyDdpmFlatOutput = true;
      if (this.webasmThreads > 1 && spec.tile4) kernel.kernel.tinyDdpmThreads = this.webasmThreads;
    }
    return kernel;
  }

  /** gpu.js degrades quietly (webasm -> cpu for unsupported features); we would rather fail loudly. */
  private checkNoFallback(kernel: any, spec: KernelSpec): void {
    const ran = kernel.kernel?.constructor?.name;
    if (ran && ran !== this.kernelClass) {
      const why = kernel.kernel?.fallbackReason ? `: ${JSON.stringify(kernel.kernel.fallbackReason)}` : '';
      throw new Error(`gpujs: kernel ${spec.name} was meant to run as ${this.kernelClass} (mode ${this.mode}) but gpu.js fell back to ${ran}${why}`);
    }
  }

  /** CPU modes only: GL textures belong to the kernel that made them, so GL kernels stay. */
  private evict(): void {
    if (this.onGL) return;
    for (const [key, entry] of this.cache) {
      if ((this.cachedBytes <= this.cacheLimit && this.cache.size <= this.maxKernels) || this.cache.size <= 1) break;
      this.cache.delete(key);
      this.cachedBytes -= entry.bytes;
      entry.kernel.destroy();
      if (this.debug) this.log(`[tiny-ddpm gpujs] evicted ${key.split('|')[0]} (kernel cache over ${this.cacheLimit} bytes or ${this.maxKernels} kernels)`);
    }
  }

  sync(): void {
    if (this.onGL) this.gpu.context?.finish();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const entry of this.cache.values()) entry.kernel.destroy();
    this.cache.clear();
    this.gpu.destroy();
  }
}
