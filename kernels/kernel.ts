/**
 * What a gpu.js kernel looks like to the rest of the project.
 *
 * Every file in kernels/ builds `KernelSpec`s: the gpu.js kernel function (or its source, for
 * the templates), the output grid, and the compile-time sizes it reads as `this.constants`.
 * The gpu.js backend (src/backend/gpujs/) compiles each spec once per shape and runs it.
 *
 * How gpu.js runs a kernel: the function is called once per output cell, with
 * `this.thread.x` (and `.y`, `.z` for a 2-D/3-D output grid) saying which cell; its return
 * value is that cell. gpu.js parses the function's source text, so kernel bodies use only the
 * subset it understands: numbers, `Math.*`, `let`/`const`, `if`, `for` with a bound from
 * `this.constants`, and array reads `a[i]`. Every buffer is a flat float32 array.
 *
 * Three rules keep the same source exact and fast on all gpu.js modes (what gpu.js 2.24.1
 * does with each is in kernels/README.md and src/backend/gpujs/runner.ts):
 * - Loop bounds come from `this.constants`: a bound that is a runtime value is silently capped
 *   at 1000 iterations.
 * - Integer division is written `Math.floor((i + 0.5) / n)` and then corrected by one step:
 *   float division on a GPU is not exactly rounded, so `Math.floor(i / n)` can land one below
 *   when i is a multiple of n. Every integer here is below 2^24, so float32 holds it exactly.
 * - On webasm, 4 consecutive `thread.x` cells run as one SIMD quad: a read whose index depends
 *   on `thread.x` becomes 4 scalar loads, one that depends only on `thread.y`/`z` and loop
 *   counters is one load shared by the quad. The heavy kernels put the shared operand on y.
 *   With src/backend/gpujs/webasm-codegen-patch.ts (on by default) a read written literally
 *   `a[this.thread.x + <integer terms not depending on thread.x>]`, outside any branch that
 *   depends on thread.x, is one vector load of 4 consecutive floats instead.
 */

/** `this` inside a gpu.js kernel. */
export interface KernelThis<C = Record<string, number>> {
  thread: { x: number; y: number; z: number };
  constants: C;
}

export interface KernelSpec {
  /** family.variant, e.g. 'binary.add' or 'conv2d.forward': the name in logs and kernelStats() */
  name: string;
  /** the kernel: a plain function gpu.js can parse, or its source text (templates) */
  source: string | ((...args: any[]) => any);
  /** the output grid [x] or [x, y] or [x, y, z] (thread.x varies fastest) */
  output: number[];
  /** sizes baked into the compiled kernel, read as this.constants.name */
  constants: Record<string, number>;
  /**
   * Names of arguments whose every element is >= 0 (tables of offsets): a promise the
   * webasm code-generator patch uses to fold constant index terms into load offsets (H).
   */
  nonNegative?: string[];
  /**
   * webasm with the patch: true compiles this kernel's SIMD code for two quads (8 cells) per
   * call (the patch's M) where the patch can pair it. Only where it measured faster
   * (bench/kernel-ab.ts --one-quad, bench/step-ab.ts --one-quad; kernels/README.md): the
   * weight gradient ran 1.20-1.45x as fast, and the aligned forward and input-gradient convs
   * (one tap per pass, conv2d.ts) 1.21-1.36x their one-quad row-of-taps loop; paired as a row of
   * 3 taps, the padded convs ran 0.87-0.94x (6 loads, 12 splats and 8 sums outgrow the 16 SIMD
   * registers), the matmul 0.92-0.99x, and a step with the elementwise, GroupNorm and reduction
   * kernels paired 0.96x (they wait on memory).
   */
  pairQuads?: boolean;
  /**
   * The kernel returns 4 values per cell (a register tile of 4 rows, see tiles.ts); the
   * backend lays them out row-major with `untile4`, keeping the first `rows` of every 4*y+r.
   */
  tile4?: {
    rows: number;
    /**
     * A padded row grid (the stride-1 convs): thread.x runs over rows of `pitch` cells of which
     * the first `width` are real; the layout keeps those, so a row of the result holds
     * (output[0] - width) / pitch + 1 rows of `width`. Absent: every cell is real.
     */
    width?: number;
    pitch?: number;
  };
}

/** Exact floor(i / n) for integer-valued floats i >= 0, n >= 1, below 2^24 (see above), as source. */
export function floorDivSource(q: string, i: string, n: string): string {
  return `let ${q} = Math.floor((${i} + 0.5) / ${n});
  if (${i} - ${q} * ${n} < 0) { ${q} = ${q} - 1; }
  if (${i} - ${q} * ${n} >= ${n}) { ${q} = ${q} + 1; }`;
}
