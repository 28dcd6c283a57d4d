/**
 * A runtime patch of gpu.js 2.24.1's WebAssembly code generator
 * (node_modules/gpu.js/src/backend/web-assembly/function-node.js, class
 * WebAssemblyFunctionNode, and the `call` of its WasmFunctionEmitter). Nothing in
 * node_modules is edited: prototype methods are wrapped once, at load, and each wrapper does
 * the stock thing unless the patch is *active* (a flag the KernelRunner sets around every
 * call of a webasm kernel it built with the patch on; GL and cpu kernels never see it, and
 * `TINY_DDPM_WEBASM_PATCH=0` or `new GpuJsBackend({ mode: 'webasm', webasmPatch: false })`
 * leaves stock gpu.js).
 *
 * Guards. The wrapped methods are private to gpu.js, so the patch holds for one release only:
 * at load this file records whether the installed gpu.js is PATCHED_GPUJS_VERSION and has every
 * method it wraps (patchTargetProblem), and a patched KernelRunner throws that one clear error
 * when it is created (stock code generation, TINY_DDPM_WEBASM_PATCH=0, still works). The runner
 * does not assume that a rewrite ran: K changes where a kernel's outputs are stored, so the
 * runner reads the counters below around each kernel's code generation and lays its output out
 * as that code stores it (runner.ts, tileLayoutOf); the other rewrites change how values are
 * computed, not where, and the tests compare each against stock gpu.js and the reference.
 *
 * Why. Stock webasm runs 4 consecutive thread.x cells as one f32x4 quad, but
 * (1) it does index arithmetic in f32: loop counters `let q = 0; q++` and `const` locals
 *     holding integer expressions decay to f32 locals, so every array read costs an f32 add
 *     and an i32.trunc_sat per term;
 * (2) every read whose index depends on thread.x is a lane-by-lane gather (extract lane,
 *     shift, f32.load, replace lane: x4), even when the 4 addresses are consecutive;
 * (3) a lane-uniform read is f32.load + f32x4.splat (two instructions for one).
 * That caps matmul/conv near 2-3.5 GFLOP/s on one core. With the patch the same kernel
 * sources reach ~20 GFLOP/s (one core, 512^3 matmul); see bench/kernels.ts.
 *
 * What changes in the generated code, and the conditions:
 *
 * A. Integer loop counters. `for (let q = <int literal>; <test>; q++ | q += <int literal>)`
 *    whose body never assigns q keeps q an i32 local (stock decides Integer on its first walk,
 *    then a cached literal type makes later walks declare it f32). Safe: q only ever holds
 *    integers, and i32 and f32 arithmetic agree on integers below 2^24, which is every index
 *    the backend allows (runner.ts refuses larger buffers). `/` and `%` stay float in gpu.js
 *    whatever the operand types, so no division turns integral.
 *
 * B. Integer consts. `const c = <expression gpu.js types Integer>` stays an i32 local instead
 *    of decaying to f32. The value is the same (the expression was already computed in i32 and
 *    converted); only the storage type changes, so uses in index math skip f32 -> i32
 *    conversions, and uses in float math convert exactly (below 2^24). `let` is untouched:
 *    a `let` may later be assigned a fraction.
 *
 * C. Integer constants. Kernels built with the patch get `constantTypes` with 'Integer' for
 *    every integer-valued `this.constants` entry (stock types them Number unless
 *    strictIntegers, which we do not use: it would also type integer-valued *arguments*
 *    Integer and truncate a later fractional value). Constants are baked into the code, so
 *    their type cannot change later; integer-typed arithmetic with them is exact below 2^31,
 *    and mixed with a float it converts exactly (below 2^24).
 *
 * D. Vector loads. In the SIMD walk, a read `a[e]` becomes one `v128.load` of a[base..base+3]
 *    (base = the quad's first lane's index) instead of the 4-load gather when ALL hold:
 *      - the subscript is 1-D (`a[e]`, not `a[y][x]`),
 *      - no divergent branch mask is live (vMaskDepth === 0: a masked-off lane's index may be
 *        wild, which the gather clamps),
 *      - e is a chain of `+` whose terms are exactly one literal `this.thread.x` and lane-uniform
 *        terms (gpu.js's own uniformity analysis) that gpu.js types Integer or LiteralInteger.
 *    Then lane l's index is base + l exactly (integer adds), so the 4 loaded floats are the
 *    ones the gather would load, bit for bit, whenever each lane's index is inside the array
 *    (the kernel contract; the gather's clamp only changes out-of-contract reads). Quads never
 *    cross an x-row and the tail of a row runs scalar (WebAssemblyKernel.dispatchSpans), so all
 *    4 lanes are real cells. Memory is [args | constants | output], each region 16-byte
 *    aligned, so a load at the end of an argument stays inside the memory.
 *    Anything else (a thread.x hidden in a local, `2 * this.thread.x`, a float-typed term,
 *    a 2-D subscript, a read under a divergent `if`/`?:`) keeps the gather.
 *
 * F. Integer twins of rounded consts. `const c = Math.floor(e)` (or ceil, round) stays the
 *    stock f32 local, and also gets an i32 twin set right after it (i32.trunc_sat of the same
 *    value). A subscript that is a `+` chain of integer terms (typed Integer, integer literals,
 *    twins) with at least one twin is added in i32 from the twins, instead of in f32 and then
 *    truncated (stock). The two agree whenever the subscript is a finite integer below 2^24,
 *    i.e. every in-contract read (a NaN or infinite subscript reads some other element than
 *    stock's clamp would; both are out of contract). Float uses of c are untouched.
 *    Lookup tables of offsets (`const o = Math.floor(offs[i])`) then index in i32.
 *
 * E. Splat loads. A lane-uniform scalar `f32.load` immediately followed by `f32x4.splat` is
 *    rewritten in place to `v128.load32_splat` with the same offset: the same 4 bytes, the same
 *    bits in every lane.
 *
 * G. exp in WebAssembly. Stock gpu.js has no wasm exp: every `Math.exp` is a call out to
 *    JavaScript's Math.exp (f64, demoted to f32), and in the SIMD walk four of them, one per
 *    lane (extract, call, replace). SiLU, sigmoid and softmax spend most of their time there
 *    (a SiLU over 2.4M floats: 92 ms, against 16 ms for a negation). The patch emits exp
 *    inline instead, as f32x4 arithmetic (and the same sequence in f32 for scalar code):
 *      x <- clamp(x, -104, 89)              (beyond: 0 and +Infinity come out of the scaling)
 *                                          (in SIMD by f32x4.pmin / pmax, one instruction each
 *                                          where min / max cost seven for their NaN rules; a NaN
 *                                          x passes through either way)
 *      n <- nearest(x * log2(e))            x = n ln2 + r,  |r| <= ln2 / 2
 *      r <- (x - n * LN2_HI) - n * LN2_LO   ln2 split so that n * LN2_HI is exact (Cody & Waite)
 *      p <- 1 + r + r^2/2! + ... + r^7/7!   Taylor; the r^8/8! left out is < 1e-8 of e^r
 *      e^x = p * 2^(n >> 1) * 2^(n - (n >> 1))   two scalings (exponent bits built in i32),
 *                                                so overflow, gradual underflow and 0 are exact
 *    NaN stays NaN. The result is within a few ulp of the correctly rounded value (stock
 *    gives the correctly rounded f32 of the f64 result): results differ from stock gpu.js in
 *    the last bits only, and are the same every run (test/gpujs-patch.test.ts checks exp
 *    against Math.exp over the whole float range).
 *
 * H. Constant terms in the load offset. A 1-D subscript that is a `+` chain of integer terms,
 *    some of them compile-time constants (integer literals, integer `this.constants.x`, and
 *    + or * of those) summing to S > 0, loads from offset + 4 S with only the other terms
 *    added at run time, when every other term is provably >= 0 (thread ids, non-negative
 *    constants, loop counters counting up from a literal >= 0, i32 consts built from such
 *    terms with +, * and ?:). The address is the same as stock's: stock adds S in i32 and the
 *    sum is below 2^24 for every in-contract read, so no wrap-around differs (a term that might
 *    be negative would wrap (t << 2) to near 2^32 before the offset is added: not folded).
 *    Also non-negative: / of non-negative terms, Math.floor/ceil/round of a non-negative value
 *    (the i32 twins of F), and reads of an argument the kernel spec declares non-negative
 *    (KernelSpec.nonNegative, e.g. a table of offsets; a negative element there would make
 *    the load trap instead of reading).
 *    Why: `a[aq + this.constants.row1]`, `a[aq + this.constants.row2]`, ... then compute
 *    (aq << 2) once, which V8 shares between the loads, instead of one add and shift per read.
 *
 * I. Fused multiply-add. In the SIMD walk, `s += x * y` on a vector float accumulator is
 *    emitted as f32x4.relaxed_madd(x, y, s) (relaxed SIMD) instead of f32x4.mul + f32x4.add,
 *    when the backend asks for it (`webasmFma`, default on; TINY_DDPM_WEBASM_FMA=0 turns it
 *    off) and the process compiles relaxed SIMD (fmaAvailable). On a CPU with FMA (x86 FMA3,
 *    every ARMv8) V8 emits one fused instruction that rounds once; elsewhere it is mul + add,
 *    exactly stock. The results therefore differ from stock in the last bits (closer to the
 *    exact sum of products), are the same every run on one machine, and stay within the float32
 *    error bounds that the tests check against the reference backend.
 *
 * K. Row-major register tiles. A kernel returning Array(4) (the 4-row register tiles of
 *    kernels/tiles.ts) stores component c of cell (x, yb, z) at row 4 yb + c of image z,
 *    [z][4 yb + c][x], instead of gpu.js's [z][yb][x][c], when the runner asks (every tile4 spec on
 *    webasm). A SIMD quad then stores 4 vectors instead of 16 lane-extracted floats, and the
 *    result needs no untile pass: it is the row-major tensor already when 4 divides the rows
 *    and the grid has no padding columns, else rows and columns are dropped with plain copies
 *    (untile4RowMajor in tiles.ts).
 *
 * L. Float-to-int conversions without a false dependency. A scalar i32.trunc_sat_f32_s
 *    outside every `for` loop of the kernel (the only loops kernels/ writes), such as the
 *    offsets a kernel converts once per call (the twins of F for
 *    `const leftAt = Math.floor(leftOffset)`), is emitted as lane 0 of the
 *    vector conversion: f32x4.splat, i32x4.trunc_sat_f32x4_s, i32x4.extract_lane 0. Both
 *    saturate and send NaN to 0, so the value is the same bit for bit. Why: V8 (Node 20,
 *    x86-64) lowers the scalar form with `vroundss d, d, s` and `vcvtlsi2ss d, xmm15, r`
 *    (seen with --print-wasm-code), which merge the upper lanes of d and of the scratch
 *    register xmm15 into their result and so wait for whatever last wrote them: when a quad
 *    ends in a long vector chain (exp, divisions) the next quad's conversions wait for it,
 *    and the quads run one after another instead of overlapping. Inside loops the scalar form
 *    stays: there the vector one cost more than it saved (the convolutions ran slower).
 *    Measured (bench/profile-step.ts gpujs:webasm 32 5 unet-mini, one thread, two alternating
 *    runs each way): the SiLU gradient kernel 33 and 26 ms a step, against 52 and 47 without L.
 *
 * M. Two quads per call. Stock webasm computes one quad (4 cells) per call of its SIMD function,
 *    so a kernel that sums into 4 accumulators (the 4-row register tiles) runs 4 dependent
 *    multiply-add chains, and on x86-64 a fused multiply-add has a latency of about 4 cycles and
 *    a throughput of 2 per cycle: 8 chains keep the unit busy, 4 leave it half idle
 *    (bench/simd-loops.ts measures the loop shapes). A kernel cannot ask for 8 cells itself:
 *    gpu.js returns at most Array(4), and the same source runs on WebGL, where a texel holds 4.
 *    So the patch also compiles each eligible kernel's SIMD walk a second time, as
 *    kernel_simd2, for the two adjacent quads at thread.x and thread.x + 4 of one row:
 *      - a statement that touches no lane-varying local (gpu.js's own analysis, vAnalyze) is
 *        emitted once, as in kernel_simd: both quads share it (thread.y, z and loop counters
 *        are the same for both);
 *      - a `for` with a lane-uniform trip count, an `if` with a lane-uniform test and a block
 *        are emitted once around their bodies, which are walked the same way;
 *      - every other statement (it declares or assigns a varying local; an `if` or loop whose
 *        control varies) is emitted twice: for the first quad, then for the second with its
 *        own copies of the varying locals and with thread.x and the output cell read from two
 *        more globals that the driver sets to the first quad's + 4;
 *      - a `return` stores both quads' values (each as kernel_simd stores one), then returns;
 *      - in `s += a[i] * x` (I) a lane-uniform read `a[i]` is splat-loaded once for both quads
 *        (V8 does not merge two identical loads from WebAssembly memory), when the statement
 *        is emitted twice directly (not inside a branch, whose first copy might not run).
 *    So each quad's values are computed by the same instructions, on the same inputs, as
 *    kernel_simd computes them: the results are the same bits (the tests compare the two).
 *    The driver run_simd then calls kernel_simd2 while a whole pair fits in the row and the
 *    span, and kernel_simd for a last single quad, so its callers (gpu.js's dispatchSpans, the
 *    two-thread split) are unchanged. Eligible: the root kernel calls no helper functions and
 *    draws no Math.random, assigns no argument, returns only where no lane mask is live, has no
 *    `switch`, and no statement emitted twice assigns a lane-uniform local (a uniform loop
 *    counter would run twice). Anything else keeps the one-quad code. The runner asks for M
 *    only for the kernels whose spec says so (KernelSpec.pairQuads: where it measured faster;
 *    a kernel whose sums and splatted operands already fill the 16 SIMD registers spills when
 *    doubled), for every kernel with `webasmPairs: 'all'`, for none with
 *    TINY_DDPM_WEBASM_PAIRS=0. Measured (bench/kernel-ab.ts --one-quad, batch 32, one thread,
 *    two runs): the weight gradient 1.20-1.45x the GFLOP/s of one quad at all five sizes; the
 *    padded forward and input-gradient convs 0.87-0.94x paired as a row of 3 taps (6 + 12 + 8
 *    vector registers: it spills), and in their aligned form (kernels/conv2d.ts: one tap per
 *    pass, the 4 weight rows one address plus constant offsets) 1.21-1.36x the one-quad row of
 *    taps (bench/kernel-ab.ts against commit 3701941); matmul 0.92-0.99x; the elementwise
 *    kernels no faster in a whole step (bench/step-ab.ts --one-quad).
 *
 * N. thread.x in a local. gpu.js keeps thread.x in a WebAssembly global and reads it with
 *    global.get at every use; V8 loads a mutable global from memory each time (the compiled
 *    loop of the weight gradient re-read it at every iteration, node --print-wasm-code). At the
 *    start of kernel_simd (its first top-level statement) and of kernel_simd2 the patch copies
 *    the global(s) into an i32 local, and D's contiguous loads read the local. Same values, so
 *    the same bits. Measured (bench/kernel-ab.ts --one-quad in processes with and without it,
 *    two runs each): the paired weight gradient 21.4 against 20.4 GFLOP/s (mean of 4 sizes x 2
 *    runs), the other kernels unchanged within the noise.
 *
 * What would make this unnecessary: gpu.js itself (1) typing loop counters / integer consts /
 * integer constants i32, (2) recognising "uniform + thread.x" subscripts as contiguous and
 * emitting v128.load. Both are local changes to function-node.js (vGather and
 * stmtVariableDeclaration); this file is their prototype. It stays a run-time wrapper rather
 * than a diff of gpu.js applied at install because tiny-ddpm is also a library: an install-time
 * patch would edit the hoisted gpu.js of every project that depends on it (or miss it), and
 * `npm ci --ignore-scripts` would skip it silently (kernels/README.md, "Why a run-time wrapper").
 */
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { WebAssemblyFunctionNode } = require('gpu.js/src/backend/web-assembly/function-node');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { WasmFunctionEmitter } = require('gpu.js/src/backend/web-assembly/wasm-builder');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { WebAssemblyKernel } = require('gpu.js/src/backend/web-assembly/kernel');

export interface WebasmPatchStats {
  /** v128.load reads emitted (D) */
  vectorLoads: number;
  /** lane-varying reads left as gathers */
  gathers: number;
  /** f32.load + splat rewritten to v128.load32_splat (E) */
  splatLoads: number;
  /** loop counters kept i32 (A) */
  intLoops: number;
  /** consts kept i32 (B) */
  intConsts: number;
  /** i32 twins of rounded consts (F) */
  intShadows: number;
  /** exp emitted inline instead of a call to JavaScript (G), in SIMD and in scalar code */
  inlineExps: number;
  /** loads whose compile-time subscript terms went into the load's offset (H) */
  foldedOffsets: number;
  /** `s += x * y` on vectors emitted as one fused multiply-add (I) */
  fusedMultiplyAdds: number;
  /** Array(4) quad results stored row-major as 4 vector stores (K, SIMD code) */
  rowMajorStores: number;
  /** Array(4) component addresses computed row-major (K, scalar code) */
  rowMajorAddresses: number;
  /** scalar f32-to-i32 conversions emitted as lane 0 of the vector conversion (L) */
  laneTruncs: number;
  /** kernels that also got the two-quad SIMD function kernel_simd2 (M) */
  pairedKernels: number;
  /** lane-uniform reads in `s += a[i] * x` splat-loaded once for both quads (M) */
  sharedSplats: number;
  /** thread.x copied into a local at a SIMD function's start (N) */
  threadXLocals: number;
}

/** The gpu.js release this patch was written against (package.json pins it). */
export const PATCHED_GPUJS_VERSION = '2.24.1';
/** The methods of WebAssemblyFunctionNode.prototype that applyWebasmCodegenPatch wraps (or, for M, calls: the walk's vstatement, vstmtReturn, vRetireOrReturn). */
export const WRAPPED_FUNCTION_NODE_METHODS: readonly string[] = [
  'stmtFor', 'vstmtFor', 'stmtVariableDeclaration', 'emitIndex', 'vGather', 'emitFlatLoad', 'emitComponentAddress', 'vStoreOutput', 'vAssign', 'vCoerce',
  'emitVectorFunction', 'vstatement', 'vstmtReturn', 'vRetireOrReturn',
];

/** The methods of WebAssemblyKernel.prototype that it wraps (M: the SIMD driver). */
export const WRAPPED_KERNEL_METHODS: readonly string[] = ['_emitRunSimd'];

/** The methods of WasmFunctionEmitter.prototype that it wraps (G, L). */
export const WRAPPED_EMITTER_METHODS: readonly string[] = ['call', 'i32TruncSatF32S'];

/**
 * Why the patch cannot be applied to this gpu.js, or null when it can: the version must be
 * the pinned one, and every method the patch wraps must exist (WasmFunctionEmitter's too).
 * The patch rewrites private code-generator methods, so another release could rename one
 * (the wrapper would then never run: slower, not wrong) or change what one emits (the
 * rewrites could then be wrong): both are refused instead of guessed at.
 */
export function patchTargetProblem(version: string, functionNode: Record<string, unknown> | undefined, emitter: Record<string, unknown> | undefined, kernel: Record<string, unknown> | undefined): string | null {
  const how = 'install the pinned release (npm ci), or turn the patch off: TINY_DDPM_WEBASM_PATCH=0 or new GpuJsBackend({ mode: \'webasm\', webasmPatch: false })';
  if (version !== PATCHED_GPUJS_VERSION) return `gpujs: the webasm code-generator patch (src/backend/gpujs/webasm-codegen-patch.ts) was written for gpu.js ${PATCHED_GPUJS_VERSION}, but gpu.js ${version} is installed; ${how}`;
  const missing = WRAPPED_FUNCTION_NODE_METHODS.filter((m) => typeof functionNode?.[m] !== 'function').map((m) => `WebAssemblyFunctionNode.${m}`);
  for (const m of WRAPPED_EMITTER_METHODS) if (typeof emitter?.[m] !== 'function') missing.push(`WasmFunctionEmitter.${m}`);
  for (const m of WRAPPED_KERNEL_METHODS) if (typeof kernel?.[m] !== 'function') missing.push(`WebAssemblyKernel.${m}`);
  if (missing.length) return `gpujs: the webasm code-generator patch wraps ${missing.join(', ')}, which this gpu.js ${version} does not have; ${how}`;
  return null;
}

// eslint-disable-next-line @typescript-eslint/no-var-requires
const targetProblem = patchTargetProblem(require('gpu.js/package.json').version, WebAssemblyFunctionNode?.prototype, WasmFunctionEmitter?.prototype, WebAssemblyKernel?.prototype);

/** Throws the clear error of patchTargetProblem when the installed gpu.js is not the patch's. */
export function assertWebasmPatchTarget(): void {
  if (targetProblem) throw new Error(targetProblem);
}

const stats: WebasmPatchStats = { vectorLoads: 0, gathers: 0, splatLoads: 0, intLoops: 0, intConsts: 0, intShadows: 0, inlineExps: 0, foldedOffsets: 0, fusedMultiplyAdds: 0, rowMajorStores: 0, rowMajorAddresses: 0, laneTruncs: 0, pairedKernels: 0, sharedSplats: 0, threadXLocals: 0 };
let active = false;
/** how many `for` statements the code walk is inside (L rewrites only outside loops) */
let loopDepth = 0;
let fmaActive = false;
/** H: argument names whose every element the kernel being compiled declares >= 0 (KernelSpec.nonNegative) */
let nonNegativeArrays = new Set<string>();
/** K: Array(4) results stored row-major (KernelSpec.tile4 kernels; the runner asks) */
let rowMajorTiles = false;
/** M: compile eligible kernels' SIMD code for two quads per call too */
let pairQuads = false;
/** M: which copy of a twice-emitted statement the walk is in */
let pairPass: 'primary' | 'twin' | null = null;
/** M: whether that statement's lane-uniform reads in fused multiply-adds may be shared (it is emitted straight, not inside a branch) */
let shareUniforms = false;
/** M: the splat local each shared read got in the first copy, by its AST node */
const sharedReads = new Map<object, number>();
/** N: the i32 local that holds thread.x in the SIMD function being emitted, by the global it copies */
let threadXLocals = new Map<number, number>();
/** N: kernel_simd's copy is made at its first statement */
let threadXPending = false;
let applied = false;

/** Whether the patch is wanted by default: on unless TINY_DDPM_WEBASM_PATCH=0. */
export function webasmPatchDefault(): boolean {
  return typeof process === 'undefined' || process.env?.TINY_DDPM_WEBASM_PATCH !== '0';
}

/** Counters of what the patched code generator emitted (all kernels built so far). */
export function webasmPatchStats(): WebasmPatchStats {
  return { ...stats };
}

/** Whether two quads per call (M) are wanted by default: on unless TINY_DDPM_WEBASM_PAIRS=0. */
export function webasmPairsDefault(): boolean {
  return typeof process === 'undefined' || process.env?.TINY_DDPM_WEBASM_PAIRS !== '0';
}

/** Whether fused multiply-adds (I) are wanted by default: on unless TINY_DDPM_WEBASM_FMA=0. */
export function webasmFmaDefault(): boolean {
  return typeof process === 'undefined' || process.env?.TINY_DDPM_WEBASM_FMA !== '0';
}

/**
 * Run f with the patch active (code generated inside f is patched), with fused multiply-adds
 * (I) when `fma` and this process can compile them, and the two-quad code (M) when `pairs`;
 * restores the previous state.
 */
export function withWebasmPatch<T>(on: boolean, f: () => T, fma = false, nonNegative: string[] = [], rowMajor = false, pairs = false): T {
  applyWebasmCodegenPatch();
  const before = active;
  const fmaBefore = fmaActive;
  const nonNegBefore = nonNegativeArrays;
  const rowMajorBefore = rowMajorTiles;
  const pairsBefore = pairQuads;
  active = on;
  fmaActive = on && fma && fmaAvailable();
  nonNegativeArrays = new Set(nonNegative);
  rowMajorTiles = on && rowMajor;
  pairQuads = on && pairs;
  try {
    return f();
  } finally {
    active = before;
    fmaActive = fmaBefore;
    nonNegativeArrays = nonNegBefore;
    rowMajorTiles = rowMajorBefore;
    pairQuads = pairsBefore;
  }
}

/** C: the kernel settings a patched kernel is built with. */
export function patchedConstantTypes(constants: Record<string, number>): Record<string, string> {
  const types: Record<string, string> = {};
  for (const [k, v] of Object.entries(constants)) types[k] = Number.isInteger(v) && Math.abs(v) < 2 ** 31 ? 'Integer' : 'Float';
  return types;
}

function isThreadX(ast: any): boolean {
  return (
    ast?.type === 'MemberExpression' &&
    !ast.computed &&
    ast.property.name === 'x' &&
    ast.object.type === 'MemberExpression' &&
    ast.object.object.type === 'ThisExpression' &&
    ast.object.property.name === 'thread'
  );
}

/** Whether test holds for some node of the AST (an array of nodes, or one), visiting every node until it does. */
function someNode(ast: any, test: (node: any) => boolean): boolean {
  if (!ast || typeof ast !== 'object') return false;
  if (Array.isArray(ast)) return ast.some((n) => someNode(n, test));
  if (test(ast)) return true;
  for (const key in ast) {
    if (key === 'loc' || key === 'start' || key === 'end' || key === 'parent') continue;
    const child = ast[key];
    if (child && typeof child === 'object' && someNode(child, test)) return true;
  }
  return false;
}

/** Does the AST assign the identifier `name` anywhere (=, op=, ++, --)? */
function assigns(ast: any, name: string): boolean {
  return someNode(ast, (n) =>
    (n.type === 'AssignmentExpression' && n.left.type === 'Identifier' && n.left.name === name) ||
    (n.type === 'UpdateExpression' && n.argument.type === 'Identifier' && n.argument.name === name));
}

function plusTerms(e: any, out: any[] = []): any[] {
  if (e.type === 'BinaryExpression' && e.operator === '+') {
    plusTerms(e.left, out);
    plusTerms(e.right, out);
  } else out.push(e);
  return out;
}

function isRoundingCall(node: any, e: any): boolean {
  return e?.type === 'CallExpression' && node.isAstMathFunction(e) && ['floor', 'ceil', 'round'].includes(e.callee.property.name);
}

/** The i32 twin (F) of a rounded const, if t names one in the current walk. */
function shadowOf(node: any, t: any): number | undefined {
  if (t?.type !== 'Identifier') return undefined;
  const local = node.locals?.get(t.name);
  return local?.kind === 'scalar' ? local.tinyShadow : undefined;
}

/** A subscript term whose value is an integer that i32 holds exactly: typed Integer, an integer literal, or a twin. */
function integralTerm(node: any, t: any): boolean {
  if (shadowOf(node, t) !== undefined) return true;
  const type = node.getType(t);
  return type === 'Integer' || type === 'LiteralInteger';
}

function emitIntTerm(node: any, t: any): void {
  const shadow = shadowOf(node, t);
  if (shadow !== undefined) node.em.localGet(shadow);
  else node.emitIndex(t);
}

/** The i32 sum of integer terms (0 for none), left on the stack. */
function emitIntSum(node: any, terms: any[]): void {
  if (terms.length === 0) node.em.i32Const(0);
  terms.forEach((t, i) => {
    emitIntTerm(node, t);
    if (i > 0) node.em.i32Add();
  });
}

/** K: the element index of component 0 of the current cell (or quad) in the row-major layout, 4 d - 3 x (callers add c X and scale by 4). */
function emitRowMajorAddress(node: any, dataIndexGlobal: number): void {
  node.em.globalGet(dataIndexGlobal).i32Const(4).i32Mul();
  node.em.globalGet(node.assembler.globals.threadX).i32Const(3).i32Mul().i32Sub();
}

/** H: the value of a compile-time integer term (integer literal, integer `this.constants.x`, + or * of those). */
function constTerm(node: any, e: any): number | undefined {
  if (e?.type === 'Literal') return Number.isInteger(e.value) ? e.value : undefined;
  if (e?.type === 'MemberExpression' && !e.computed && e.object?.type === 'MemberExpression' && e.object.object?.type === 'ThisExpression' && e.object.property?.name === 'constants') {
    const v = node.constants?.[e.property.name];
    return Number.isInteger(v) ? v : undefined;
  }
  if (e?.type === 'BinaryExpression' && (e.operator === '+' || e.operator === '*')) {
    const l = constTerm(node, e.left);
    const r = constTerm(node, e.right);
    if (l === undefined || r === undefined) return undefined;
    return e.operator === '+' ? l + r : l * r;
  }
  return undefined;
}

/**
 * H: is e provably >= 0? Thread ids, non-negative constants and literals, locals marked
 * non-negative (i32 consts built from such terms, loop counters counting up from >= 0),
 * and +, * and ?: of those.
 */
function nonNegative(node: any, e: any): boolean {
  if (!e) return false;
  if (e.type === 'MemberExpression' && !e.computed && e.object?.type === 'MemberExpression' && e.object.object?.type === 'ThisExpression' && e.object.property?.name === 'thread') return true;
  if (e.type === 'Literal') return typeof e.value === 'number' && e.value >= 0;
  const c = constTerm(node, e);
  if (c !== undefined) return c >= 0;
  if (e.type === 'Identifier') return node.locals?.get(e.name)?.tinyNonNeg === true;
  if (e.type === 'BinaryExpression' && (e.operator === '+' || e.operator === '*' || e.operator === '/')) return nonNegative(node, e.left) && nonNegative(node, e.right);
  if (e.type === 'ConditionalExpression') return nonNegative(node, e.consequent) && nonNegative(node, e.alternate);
  // Math.floor, ceil, round of a non-negative value; a read of an array the kernel declares non-negative
  if (isRoundingCall(node, e)) return nonNegative(node, e.arguments[0]);
  if (e.type === 'MemberExpression' && e.computed && e.object?.type === 'Identifier') return nonNegativeArrays.has(e.object.name);
  return false;
}

/**
 * H: split a subscript's `+` terms into the compile-time part (its sum, in elements) and the
 * rest, when folding the sum into the load's offset gives the same address: every term is an
 * integer, the sum is > 0 and every other term is provably >= 0 (so no i32 wrap-around
 * differs from stock's). Null when it does not apply.
 */
function foldableSubscript(node: any, terms: any[]): { constant: number; rest: any[] } | null {
  let constant = 0;
  const rest: any[] = [];
  for (const t of terms) {
    const c = constTerm(node, t);
    if (c !== undefined) constant += c;
    else rest.push(t);
  }
  if (constant <= 0 || constant >= 2 ** 24) return null;
  if (!rest.every((t) => isThreadX(t) || (integralTerm(node, t) && nonNegative(node, t)))) return null;
  return { constant, rest };
}

// G: the constants of the inline exp
const EXP_LO = -104; // e^-104 < 2^-150: rounds to 0
const EXP_HI = 89; // e^89 > 2^128: +Infinity
const LOG2E = Math.LOG2E;
const LN2_HI = 0.693359375; // 355/512: n * LN2_HI is exact in f32 for |n| <= 150
const LN2_LO = Math.LN2 - LN2_HI; // -2.12194440e-4
/** 1/k! for k = 7 .. 0, the Horner order */
const EXP_TAYLOR = [1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1];

/** G: exp of the 4 lanes of v128 local `x`, left on the stack as an f32x4. */
function emitExpF32x4(em: any, x: number): void {
  const splat = (v: number) => em.v128ConstF32x4(v, v, v, v);
  const xc = em.addLocal('v128');
  const n = em.addLocal('v128');
  const r = em.addLocal('v128');
  const k = em.addLocal('v128');
  em.localGet(x); splat(EXP_HI); em.f32x4Pmin(); splat(EXP_LO); em.f32x4Pmax(); em.localSet(xc);
  em.localGet(xc); splat(LOG2E); em.f32x4Mul(); em.f32x4Nearest(); em.localSet(n);
  em.localGet(xc); em.localGet(n); splat(LN2_HI); em.f32x4Mul(); em.f32x4Sub();
  em.localGet(n); splat(LN2_LO); em.f32x4Mul(); em.f32x4Sub(); em.localSet(r);
  splat(EXP_TAYLOR[0]);
  for (const c of EXP_TAYLOR.slice(1)) {
    em.localGet(r); em.f32x4Mul(); splat(c); em.f32x4Add();
  }
  em.localGet(n); em.i32x4TruncSatF32x4S(); em.localSet(k);
  const bias = () => em.v128ConstI32x4(127, 127, 127, 127);
  // * 2^(k >> 1): the exponent field (k >> 1) + 127, shifted into place, read as f32
  em.localGet(k); em.i32Const(1); em.i32x4ShrS(); bias(); em.i32x4Add(); em.i32Const(23); em.i32x4Shl(); em.f32x4Mul();
  // * 2^(k - (k >> 1))
  em.localGet(k); em.localGet(k); em.i32Const(1); em.i32x4ShrS(); em.i32x4Sub(); bias(); em.i32x4Add(); em.i32Const(23); em.i32x4Shl(); em.f32x4Mul();
}

/** G: exp of the f32 on top of the stack, the same steps as emitExpF32x4 in scalar f32. */
function emitExpF32(em: any): void {
  const xc = em.addLocal('f32');
  const n = em.addLocal('f32');
  const r = em.addLocal('f32');
  const k = em.addLocal('i32');
  em.f32Const(EXP_HI); em.f32Min(); em.f32Const(EXP_LO); em.f32Max(); em.localSet(xc);
  em.localGet(xc); em.f32Const(LOG2E); em.f32Mul(); em.f32Nearest(); em.localSet(n);
  em.localGet(xc); em.localGet(n); em.f32Const(LN2_HI); em.f32Mul(); em.f32Sub();
  em.localGet(n); em.f32Const(LN2_LO); em.f32Mul(); em.f32Sub(); em.localSet(r);
  em.f32Const(EXP_TAYLOR[0]);
  for (const c of EXP_TAYLOR.slice(1)) {
    em.localGet(r); em.f32Mul(); em.f32Const(c); em.f32Add();
  }
  em.localGet(n); em.i32TruncSatF32S(); em.localSet(k);
  em.localGet(k); em.i32Const(1); em.i32ShrS(); em.i32Const(127); em.i32Add(); em.i32Const(23); em.i32Shl(); em.f32ReinterpretI32(); em.f32Mul();
  em.localGet(k); em.localGet(k); em.i32Const(1); em.i32ShrS(); em.i32Sub(); em.i32Const(127); em.i32Add(); em.i32Const(23); em.i32Shl(); em.f32ReinterpretI32(); em.f32Mul();
}

/** I: f32x4.relaxed_madd(a, b, c) = a * b + c (relaxed SIMD; 0xfd 0x105); bench/simd-loops.ts emits it too */
export const RELAXED_MADD = [0xfd, 0x85, 0x02];
let fma: boolean | undefined;

/**
 * I: can this process compile relaxed SIMD? Node 22+ (V8 11.4+) has it by default; Node 20's
 * V8 has it behind --experimental-wasm-relaxed-simd, which is switched on here (once, the
 * first time a backend asks for fused multiply-adds, before it compiles a kernel with them).
 */
export function fmaAvailable(): boolean {
  if (fma !== undefined) return fma;
  // a module whose one function computes relaxed_madd of three zero vectors and drops it
  const probe = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 62, 1, 60, 0,
    ...[0xfd, 0x0c, ...new Array(16).fill(0)], ...[0xfd, 0x0c, ...new Array(16).fill(0)], ...[0xfd, 0x0c, ...new Array(16).fill(0)],
    ...RELAXED_MADD, 0x1a, 0x0b]);
  const wasm = (globalThis as unknown as { WebAssembly: { validate(bytes: Uint8Array): boolean } }).WebAssembly;
  if (!wasm.validate(probe)) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      require('v8').setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      return (fma = false);
    }
  }
  fma = wasm.validate(probe);
  return fma;
}

/**
 * V8 first compiles WebAssembly with its fast baseline compiler (Liftoff) and recompiles hot
 * functions with the optimizing one (TurboFan) on a background thread. A kernel runs the same
 * few functions millions of times, and on 2 busy cores the background recompile waits: a 512^3
 * matmul ran at 30 GFLOP/s for its first second on two threads, 41 once optimized. So modules
 * compile with TurboFan right away (--no-liftoff; a few ms per kernel shape, once). Set before
 * the first kernel compiles; TINY_DDPM_WEBASM_LIFTOFF=1 keeps V8's default.
 */
export function compileOptimizedOnly(): void {
  if (typeof process === 'undefined' || process.env?.TINY_DDPM_WEBASM_LIFTOFF === '1') return;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    require('v8').setFlagsFromString('--no-liftoff');
  } catch {
    // not Node: the default tiering
  }
}

/** Appends v as an unsigned LEB128 (WebAssembly's encoding of indices, sizes and offsets); bench/simd-loops.ts uses it too. */
export function uleb(v: number, out: number[]): void {
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
}

// ------------------------------------------------------------------------------------------
// M: two quads per call

/** I + M: an operand of a fused multiply-add, as f32x4; a lane-uniform read is splat-loaded once for both quads of a pair. */
function emitMaddOperand(node: any, e: any): void {
  const shared = pairPass !== null && shareUniforms && e?.type === 'MemberExpression' && e.computed && !node.vInfo.exprVarying(e);
  if (shared && pairPass === 'twin' && sharedReads.has(e)) {
    node.em.localGet(sharedReads.get(e));
    stats.sharedSplats++;
    return;
  }
  node.vCoerce(node.vexpr(e), 'vf32');
  if (shared && pairPass === 'primary') {
    const local = node.em.addLocal('v128');
    node.em.localTee(local);
    sharedReads.set(e, local);
  }
}

/** Every identifier a statement declares, assigns or updates (for M's classification). */
function writtenNames(ast: any): Set<string> {
  const out = new Set<string>();
  // a test that never holds: someNode then visits every node
  someNode(ast, (n) => {
    if (n.type === 'VariableDeclarator' && n.id?.type === 'Identifier') out.add(n.id.name);
    if (n.type === 'AssignmentExpression' && n.left?.type === 'Identifier') out.add(n.left.name);
    if (n.type === 'UpdateExpression' && n.argument?.type === 'Identifier') out.add(n.argument.name);
    return false;
  });
  return out;
}

function hasNode(ast: any, types: string[]): boolean {
  return someNode(ast, (n) => types.includes(n.type));
}

type PairKind = 'once' | 'around' | 'twice' | 'return';

/**
 * M: how the two-quad walk emits a statement: once (it writes no varying local), around (a
 * uniform `for`, `if` or block: once, its body walked the same way), twice (once per quad), or
 * as the root's return. Null: the kernel cannot be paired (a statement emitted twice would
 * also write a lane-uniform local, or returns inside it).
 */
function pairKind(node: any, ast: any): PairKind | null {
  const v = node.vInfo;
  if (ast.type === 'ReturnStatement') return 'return';
  const written = [...writtenNames(ast)];
  const writesVarying = written.some((n) => v.varying.has(n));
  if (!writesVarying && !hasNode(ast, ['ReturnStatement'])) return 'once';
  const uniformControl =
    ast.type === 'BlockStatement' ||
    (ast.type === 'IfStatement' && !v.exprVarying(ast.test)) ||
    (ast.type === 'ForStatement' && !(ast.test && v.exprVarying(ast.test)) && !v.hasVaryingExit(ast.body, false) &&
      ![...writtenNames([ast.init, ast.update])].some((n) => v.varying.has(n)));
  if (uniformControl) return 'around';
  if (hasNode(ast, ['ReturnStatement']) || written.some((n) => !v.varying.has(n))) return null;
  return 'twice';
}

/** M: null when the kernel's SIMD walk can be emitted for two quads, else why not. */
function pairRefusal(node: any, assembler: any): string | null {
  if (!node.isRootKernel) return 'not the root kernel';
  if (assembler.helperInfo) return 'calls helper functions';
  if (assembler.globals.pcgState !== undefined) return 'draws Math.random';
  const v = node.vInfo;
  if (!v || v.varyingReturn) return 'returns under a lane mask';
  if (v.assignedArgs.size > 0) return 'assigns an argument';
  const ast = node.getJsAST();
  if (hasNode(ast.body, ['SwitchStatement', 'WhileStatement', 'DoWhileStatement'])) return 'has a switch or while';
  const check = (stmt: any): boolean => {
    const kind = pairKind(node, stmt);
    if (kind === null) return false;
    if (kind !== 'around') return true;
    if (stmt.type === 'BlockStatement') return stmt.body.every(check);
    if (stmt.type === 'IfStatement') return check(stmt.consequent) && (!stmt.alternate || check(stmt.alternate));
    return check(stmt.body);
  };
  return ast.body.body.every(check) ? null : 'a statement emitted twice would write a lane-uniform local';
}

/**
 * M: the second quad's locals: its own copy of every varying local (declared when its copy of
 * the declaration is emitted), the first quad's entry for every uniform one.
 */
class TwinLocals extends Map<string, any> {
  primary: Map<string, any> = new Map();
  varying: Set<string> = new Set();
  get(name: string): any {
    if (super.has(name)) return super.get(name);
    return this.varying.has(name) ? undefined : this.primary.get(name);
  }
  has(name: string): boolean {
    return super.has(name) || (!this.varying.has(name) && this.primary.has(name));
  }
}

/** N: copy a thread.x global into a new i32 local of the function being emitted, for emitThreadX. */
function copyThreadX(node: any, global: number): void {
  const local = node.em.addLocal('i32');
  node.em.globalGet(global).localSet(local);
  threadXLocals.set(global, local);
  stats.threadXLocals++;
}

/** N: push thread.x (of the quad being emitted, M) as an i32: its local copy where there is one. */
function emitThreadX(node: any): void {
  const global = node.assembler.globals.threadX;
  const local = threadXLocals.get(global);
  if (local === undefined) node.em.globalGet(global);
  else node.em.localGet(local);
}

/** M: emit kernel_simd2, the SIMD walk for the quads at thread.x and thread.x + 4 (after gpu.js emitted kernel_simd). */
function emitPairedVectorFunction(node: any, assembler: any): void {
  const P = WebAssemblyFunctionNode.prototype;
  const builder = assembler.module;
  const globals = assembler.globals;
  const twinGlobals = { ...globals, threadX: builder.addGlobal('i32', true, 0), dataIndex: builder.addGlobal('i32', true, 0) };
  const em = builder.addFunction('kernel_simd2', { params: [], results: [] });
  const savedEm = node.em;
  node.em = em;
  node.vec = true;
  const primary = new Map<string, any>();
  const twin = new TwinLocals();
  twin.primary = primary;
  twin.varying = node.vInfo.varying;
  // the copy of a statement for the second quad: its locals and its thread.x / output cell
  const asTwin = (f: () => void) => {
    node.locals = twin;
    assembler.globals = twinGlobals;
    pairPass = 'twin';
    try {
      f();
    } finally {
      node.locals = primary;
      assembler.globals = globals;
      pairPass = null;
    }
  };
  const asPrimary = (f: () => void) => {
    pairPass = 'primary';
    try {
      f();
    } finally {
      pairPass = null;
    }
  };
  // statements the stock walk reaches (bodies of uniform loops and branches) come back here
  node.vstatement = function (this: any, ast: any) {
    if (pairPass !== null) return P.vstatement.call(this, ast); // inside a statement being emitted twice: plain
    const kind = pairKind(this, ast);
    if (kind === 'once' || kind === 'around') return P.vstatement.call(this, ast);
    if (kind === 'return') {
      // both quads' values stored, then one return
      this.vRetireOrReturn = () => undefined;
      try {
        asPrimary(() => P.vstmtReturn.call(this, ast));
      } finally {
        delete this.vRetireOrReturn;
      }
      asTwin(() => P.vstmtReturn.call(this, ast));
      return;
    }
    if (kind !== 'twice') throw new Error('gpujs webasm patch (M): a statement the eligibility check refused reached the two-quad walk');
    shareUniforms = ast.type === 'ExpressionStatement';
    sharedReads.clear();
    try {
      asPrimary(() => P.vstatement.call(this, ast));
      asTwin(() => P.vstatement.call(this, ast));
    } finally {
      shareUniforms = false;
      sharedReads.clear();
    }
  };
  try {
    node.locals = primary;
    node.depth = 0;
    node.loopStack = [];
    node.vLoopStack = [];
    node.taintedLocals = new Set();
    node.vMaskDepth = 0;
    node.vTerminated = false;
    node.vCur = em.addLocal('v128');
    em.v128ConstI32x4(-1, -1, -1, -1).localSet(node.vCur);
    node.vRetMask = -1;
    node._vBaseX = -1;
    copyThreadX(node, globals.threadX);
    copyThreadX(node, twinGlobals.threadX);
    for (const stmt of node.getJsAST().body.body) {
      node.vstatement(stmt);
      if (node.vTerminated) break;
    }
  } finally {
    delete node.vstatement;
    node.vec = false;
    node.vMaskDepth = 0;
    node.em = savedEm;
    assembler.globals = globals;
  }
  globals.tinyPair = { threadX: twinGlobals.threadX, dataIndex: twinGlobals.dataIndex };
  stats.pairedKernels++;
}

/**
 * M: run_simd(start, end, seed) as gpu.js's (4 consecutive x cells a step, spans that never
 * cross a row unless rows are whole quads), but a step takes two quads through kernel_simd2
 * when both lie in the span and in the row, else one through kernel_simd.
 */
function emitPairedRunSimd(kernel: any, builder: any, globals: any): void {
  const [sizeX, sizeY] = kernel.threadDim;
  const pair = globals.tinyPair;
  const run = builder.addFunction('run_simd', { params: ['i32', 'i32', 'i32'], locals: ['i32'] });
  const cell = 3;
  run.localGet(0).localSet(cell);
  if (kernel.output.length === 1) {
    run.i32Const(0).globalSet(globals.threadY);
    run.i32Const(0).globalSet(globals.threadZ);
  } else if (kernel.output.length === 2) {
    run.i32Const(0).globalSet(globals.threadZ);
  }
  run.block();
  run.localGet(cell).localGet(1).i32GeS().brIf(0);
  run.loop();
  run.localGet(cell).globalSet(globals.dataIndex);
  if (kernel.output.length === 1) {
    run.localGet(cell).globalSet(globals.threadX);
  } else if (kernel.output.length === 2) {
    run.localGet(cell).i32Const(sizeX).i32RemU().globalSet(globals.threadX);
    run.localGet(cell).i32Const(sizeX).i32DivU().globalSet(globals.threadY);
  } else {
    run.localGet(cell).i32Const(sizeX).i32RemU().globalSet(globals.threadX);
    run.localGet(cell).i32Const(sizeX).i32DivU().i32Const(sizeY).i32RemU().globalSet(globals.threadY);
    run.localGet(cell).i32Const(sizeX * sizeY).i32DivU().globalSet(globals.threadZ);
  }
  // a pair when cell + 8 <= end and thread.x + 8 <= sizeX
  run.localGet(cell).i32Const(8).i32Add().localGet(1).i32LeS();
  run.globalGet(globals.threadX).i32Const(8).i32Add().i32Const(sizeX).i32LeS();
  run.i32And();
  run.if_();
  run.globalGet(globals.threadX).i32Const(4).i32Add().globalSet(pair.threadX);
  run.localGet(cell).i32Const(4).i32Add().globalSet(pair.dataIndex);
  run.call('kernel_simd2');
  run.localGet(cell).i32Const(8).i32Add().localSet(cell);
  run.else_();
  run.call('kernel_simd');
  run.localGet(cell).i32Const(4).i32Add().localSet(cell);
  run.end();
  run.localGet(cell).localGet(1).i32LtS().brIf(0);
  run.end();
  run.end();
}

/** Wrap the code generator's methods (once per process; inactive until withWebasmPatch(true, ...)). */
export function applyWebasmCodegenPatch(): void {
  if (applied) return;
  assertWebasmPatchTarget();
  applied = true;
  compileOptimizedOnly();
  const P = WebAssemblyFunctionNode.prototype;

  // A: integer loop counters (both walks: the scalar kernel and the SIMD kernel)
  const intLoopInits = new WeakSet<object>();
  const markIntLoop = (node: any, forNode: any): void => {
    const init = forNode.init;
    const u = forNode.update;
    const d = init?.type === 'VariableDeclaration' && init.declarations.length === 1 ? init.declarations[0] : null;
    const name = d?.id?.name;
    if (!name || intLoopInits.has(d.init)) return;
    const intInit = d.init?.type === 'Literal' && Number.isInteger(d.init.value);
    const intStep =
      (u?.type === 'UpdateExpression' && u.operator === '++' && u.argument.type === 'Identifier' && u.argument.name === name) ||
      (u?.type === 'AssignmentExpression' && u.operator === '+=' && u.left.type === 'Identifier' && u.left.name === name && u.right.type === 'Literal' && Number.isInteger(u.right.value));
    if (!intInit || !intStep || assigns(forNode.body, name) || assigns(forNode.test, name)) return;
    const info = node.getDeclaration(d.id);
    if (!info) return;
    info.suggestedType = 'Integer';
    intLoopInits.add(d.init);
    stats.intLoops++;
  };
  // the same wrapper for both walks' `for` (scalar and SIMD); L counts how deep the walk is
  const wrapFor = (stock: any) =>
    function (this: any, forNode: any) {
      if (active) markIntLoop(this, forNode);
      loopDepth++;
      try {
        return stock.call(this, forNode);
      } finally {
        loopDepth--;
      }
    };
  P.stmtFor = wrapFor(P.stmtFor);
  P.vstmtFor = wrapFor(P.vstmtFor);

  // B: integer consts
  const stockDecl = P.stmtVariableDeclaration;
  P.stmtVariableDeclaration = function (this: any, node: any) {
    if (!active) return stockDecl.call(this, node);
    // A: forget the literal type the first walk cached for a marked counter's initializer,
    // so every walk declares it as the Integer the counter was marked
    for (const d of node.declarations) if (d.init && intLoopInits.has(d.init)) delete this.literalTypes[this.astKey(d.init)];
    if (node.kind !== 'const') {
      const r = stockDecl.call(this, node);
      // H: a marked loop counter counting up from a literal >= 0 never goes negative; other lets may
      for (const d of node.declarations) {
        const local = this.locals.get(d.id.name);
        if (local) local.tinyNonNeg = !!d.init && intLoopInits.has(d.init) && d.init.value >= 0;
      }
      return r;
    }
    for (const d of node.declarations) {
      if (d.init && this.getType(d.init) === 'Integer') {
        const info = this.getDeclaration(d.id);
        info.valueType = 'Integer';
        this.setScalarLocal(d.id.name, 'i32', 'Integer', () => {
          this.pushState('building-integer');
          const emitted = this.expression(d.init);
          this.popState('building-integer');
          this.coerce(emitted, 'i32');
        });
        if (this.isThreadDependent(d.init)) this.taintedLocals.add(d.id.name);
        const local = this.locals.get(d.id.name);
        if (local) local.tinyNonNeg = nonNegative(this, d.init);
        stats.intConsts++;
      } else {
        stockDecl.call(this, { ...node, declarations: [d] });
        // F: an i32 twin of `const c = Math.floor|ceil|round(...)`, for subscripts
        const local = this.locals.get(d.id.name);
        if (local) local.tinyNonNeg = false;
        if (isRoundingCall(this, d.init) && local?.kind === 'scalar' && local.wtype === 'f32') {
          // H: the twin is as non-negative as the rounded value
          local.tinyNonNeg = nonNegative(this, d.init);
          if (local.tinyShadow === undefined) local.tinyShadow = this.em.addLocal('i32');
          this.em.localGet(local.index).i32TruncSatF32S().localSet(local.tinyShadow);
          stats.intShadows++;
        }
      }
    }
  };

  // F: scalar subscripts that are `+` chains of integer terms (incl. F twins) add in i32
  const stockEmitIndex = P.emitIndex;
  P.emitIndex = function (this: any, property: any) {
    if (active && property?.type === 'BinaryExpression' && property.operator === '+') {
      const terms = plusTerms(property);
      if (terms.some((t) => shadowOf(this, t) !== undefined) && terms.every((t) => integralTerm(this, t))) {
        emitIntSum(this, terms);
        return;
      }
    }
    return stockEmitIndex.call(this, property);
  };

  // D: vector loads of consecutive lanes
  const stockGather = P.vGather;
  P.vGather = function (this: any, table: string, name: string, x: any, y: any, z: any, mNode: any) {
    const layout = this.assembler?.layout?.[table]?.[name];
    if (active && layout && !y && !z && this.vMaskDepth === 0) {
      const terms = plusTerms(x);
      const lanes = terms.filter(isThreadX);
      const rest = terms.filter((t) => !isThreadX(t));
      if (lanes.length === 1 && rest.every((t) => !this.vInfo.exprVarying(t) && integralTerm(this, t))) {
        const em = this.em;
        // H: compile-time terms go into the load's offset
        const fold = foldableSubscript(this, terms);
        emitThreadX(this);
        for (const t of fold ? fold.rest.filter((r) => !isThreadX(r)) : rest) {
          emitIntTerm(this, t);
          em.i32Add();
        }
        em.i32Const(2).i32Shl().v128Load(layout.offset + 4 * (fold ? fold.constant : 0), 2);
        if (fold) stats.foldedOffsets++;
        stats.vectorLoads++;
        return 'vf32';
      }
    }
    if (active) stats.gathers++;
    return stockGather.call(this, table, name, x, y, z, mNode);
  };

  // E: f32.load + f32x4.splat -> v128.load32_splat
  const stockLoad = P.emitFlatLoad;
  // H: a 1-D subscript with compile-time terms loads at offset + 4 * (their sum), the rest added in i32
  const foldedLoad = (node: any, table: string, name: string, x: any, y: any, z: any): number | null => {
    const layout = node.assembler?.layout?.[table]?.[name];
    if (!layout || y || z || (node.vec && node.vMaskDepth > 0) || x?.type !== 'BinaryExpression' || x.operator !== '+') return null;
    const fold = foldableSubscript(node, plusTerms(x));
    if (!fold || fold.rest.some(isThreadX)) return null;
    emitIntSum(node, fold.rest);
    const offset = layout.offset + 4 * fold.constant;
    node.em.i32Const(2).i32Shl();
    node.em.f32Load(offset);
    stats.foldedOffsets++;
    return offset;
  };
  P.emitFlatLoad = function (this: any, table: string, name: string, ...rest: any[]) {
    const folded = active ? foldedLoad(this, table, name, rest[0], rest[1], rest[2]) : null;
    const r = folded !== null ? 'f32' : stockLoad.call(this, table, name, ...rest);
    if (active && this.vec && this.assembler) {
      const bytes: number[] = this.em.bytes;
      const offset = folded ?? this.assembler.layout[table][name].offset;
      const tail = [0x2a, 2]; // f32.load, align 2^2
      uleb(offset, tail);
      const start = bytes.length - tail.length;
      this._tinyLastLoad = tail.every((b, i) => bytes[start + i] === b) ? { start, end: bytes.length, offset } : null;
    }
    return r;
  };
  // G: exp inline, in the SIMD walk (one f32x4 sequence instead of 4 calls) and in scalar code
  const stockLaneCall1 = P.vLaneCall1;
  P.vLaneCall1 = function (this: any, name: string, argLocal: number) {
    if (!(active && name === 'math_exp')) return stockLaneCall1.call(this, name, argLocal);
    emitExpF32x4(this.em, argLocal);
    stats.inlineExps++;
  };
  const stockCall = WasmFunctionEmitter.prototype.call;
  WasmFunctionEmitter.prototype.call = function (this: any, name: string) {
    if (!(active && name === 'math_exp')) return stockCall.call(this, name);
    emitExpF32(this);
    stats.inlineExps++;
    return this;
  };
  // L: scalar f32 -> i32 outside loops as lane 0 of the vector conversion (no false dependency in V8's code)
  const stockTruncSat = WasmFunctionEmitter.prototype.i32TruncSatF32S;
  WasmFunctionEmitter.prototype.i32TruncSatF32S = function (this: any) {
    if (!active || loopDepth > 0) return stockTruncSat.call(this);
    stats.laneTruncs++;
    return this.f32x4Splat().i32x4TruncSatF32x4S().i32x4ExtractLane(0);
  };
  // K: Array(4) results row-major. Cell (x, yb, z) of an [X, YB, Z] grid has flat index
  // d = x + X (yb + YB z); its component c goes to row 4 yb + c of its image:
  // ((z YB + yb) 4 + c) X + x = 4 d - 3 x + c X, instead of the stock 4 d + c
  const stockComponentAddress = P.emitComponentAddress;
  P.emitComponentAddress = function (this: any, dataIndexGlobal: number, componentCount: number, component: number) {
    if (!(active && rowMajorTiles && componentCount === 4 && this.assembler)) return stockComponentAddress.call(this, dataIndexGlobal, componentCount, component);
    emitRowMajorAddress(this, dataIndexGlobal);
    if (component !== 0) this.em.i32Const(component * this.output[0]).i32Add();
    this.em.i32Const(2).i32Shl();
    stats.rowMajorAddresses++;
  };
  const stockVStore = P.vStoreOutput;
  P.vStoreOutput = function (this: any, comps: number[]) {
    if (!(active && rowMajorTiles && comps.length === 4)) return stockVStore.call(this, comps);
    const em = this.em;
    const outputOffset = this.assembler.layout.outputOffset;
    // the lanes a divergent branch or return left live, as in the stock store
    let maskLocal = -1;
    if (this.vMaskDepth > 0) maskLocal = this.vCur;
    else if (this.vRetMask !== -1) {
      maskLocal = em.addLocal('v128');
      em.localGet(this.vRetMask).v128Not().localSet(maskLocal);
    }
    // the quad's 4 cells are consecutive x of one row: component c of all 4 is one v128 at row 4 yb + c
    const addr = em.addLocal('i32');
    emitRowMajorAddress(this, this.assembler.globals.dataIndex);
    em.i32Const(2).i32Shl().localSet(addr);
    for (let c = 0; c < 4; c++) {
      const offset = outputOffset + 4 * c * this.output[0];
      em.localGet(addr).localGet(comps[c]);
      if (maskLocal !== -1) em.localGet(addr).v128Load(offset, 2).localGet(maskLocal).v128Bitselect();
      em.v128Store(offset, 2);
    }
    stats.rowMajorStores++;
  };

  // I: s += x * y on a vector accumulator as one fused multiply-add
  const stockVAssign = P.vAssign;
  P.vAssign = function (this: any, assNode: any) {
    const local = assNode.left?.type === 'Identifier' ? this.locals.get(assNode.left.name) : null;
    const r = assNode.right;
    if (!(active && fmaActive && assNode.operator === '+=' && local?.kind === 'vscalar' && local.wtype === 'vf32' && r?.type === 'BinaryExpression' && r.operator === '*')) {
      return stockVAssign.call(this, assNode);
    }
    emitMaddOperand(this, r.left);
    emitMaddOperand(this, r.right);
    this.em.localGet(local.index);
    this.em._push(RELAXED_MADD);
    this.vSetLocal(local.index);
    stats.fusedMultiplyAdds++;
  };
  // M: the two-quad SIMD function and its driver
  const stockEmitVector = P.emitVectorFunction;
  P.emitVectorFunction = function (this: any, assembler: any) {
    threadXLocals = new Map();
    threadXPending = active;
    let em;
    try {
      em = stockEmitVector.call(this, assembler);
    } finally {
      threadXPending = false;
      threadXLocals = new Map();
    }
    if (active && pairQuads && pairRefusal(this, assembler) === null) {
      try {
        emitPairedVectorFunction(this, assembler);
      } finally {
        threadXLocals = new Map();
      }
    }
    return em;
  };
  // N: the first top-level statement of kernel_simd runs first, unconditionally: thread.x is copied there
  const stockVstatement = P.vstatement;
  P.vstatement = function (this: any, ast: any) {
    if (threadXPending && this.vec) {
      threadXPending = false;
      copyThreadX(this, this.assembler.globals.threadX);
    }
    return stockVstatement.call(this, ast);
  };
  const KP = WebAssemblyKernel.prototype;
  const stockRunSimd = KP._emitRunSimd;
  KP._emitRunSimd = function (this: any, builder: any, globals: any) {
    if (!globals.tinyPair) return stockRunSimd.call(this, builder, globals);
    emitPairedRunSimd(this, builder, globals);
  };
  const stockCoerce = P.vCoerce;
  P.vCoerce = function (this: any, from: string, to: string) {
    const last = this._tinyLastLoad;
    if (active && from === 'f32' && to === 'vf32' && last && last.end === this.em.bytes.length) {
      const bytes: number[] = this.em.bytes;
      bytes.length = last.start;
      bytes.push(0xfd, 0x09, 2); // v128.load32_splat, align 2^2
      uleb(last.offset, bytes);
      this._tinyLastLoad = null;
      stats.splatLoads++;
      return to;
    }
    return stockCoerce.call(this, from, to);
  };
}
