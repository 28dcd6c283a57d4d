/**
 * Elementwise kernels: one template per arity, one snippet per op (the tfjs-webgl
 * `unaryop_gpu` idea), so adding an op is adding one line of math.
 *
 *   unary:  out[t] = f(x[t], a, b)                    x contiguous; a, b scalar arguments
 *   binary: out[t] = g(left[leftAt(t)], right[rightAt(t)])   strided reads (strided.ts)
 *   where:  out[t] = cond[condAt(t)] != 0 ? left[leftAt(t)] : right[rightAt(t)]
 *   fill:   out[t] = value
 *
 * Each snippet sets `out` from `x` (and `y`, `a`, `b`), matching the reference backend's
 * definition (src/backend/ref/elementwise.ts) on every input, including the awkward ones a GPU
 * gets wrong when left to itself: tanh of large |x| (GLSL's exp form overflows to NaN), pow of
 * a negative base (GLSL pow is undefined there), NaN through maximum/minimum/clamp.
 * Both templates take a NaN as the argument `nan`: a GPU compiler may fold 0/0 or sqrt(-1)
 * to anything, but it cannot fold a uniform.
 */
import type { BinaryOp, UnaryOp } from '../src/backend/backend';
import type { KernelSpec } from './kernel';
import { Coalesced, stridedConstants, stridedReadsSource } from './strided';

/** x ** e with JavaScript's meaning: a negative base needs an integer exponent (odd: negative result). */
function powSnippet(base: string, exponent: string): string {
  // NaN is tested first (x != x): a GPU may evaluate NaN == 0 as true
  return `if (${exponent} != ${exponent}) {
    out = ${exponent};
  } else if (${exponent} == 0) {
    out = 1;
  } else if (${base} != ${base}) {
    out = ${base};
  } else if (${base} == 0) {
    // 0 ** negative is Infinity, signed like the zero only for an odd integer exponent
    const oddExponent = Math.floor(${exponent}) == ${exponent} && Math.floor(${exponent} * 0.5) * 2 != ${exponent} ? 1 : 0;
    out = ${exponent} > 0 ? 0 : (oddExponent > 0 ? 1 / ${base} : 1 / (${base} * ${base}));
  } else if (${base} < 0) {
    const magnitude = Math.pow(-${base}, ${exponent});
    if (Math.floor(${exponent}) != ${exponent}) {
      out = nan;
    } else if (Math.floor(${exponent} * 0.5) * 2 != ${exponent}) {
      out = -magnitude;
    } else {
      out = magnitude;
    }
  } else {
    out = Math.pow(${base}, ${exponent});
  }`;
}

/** erf by Abramowitz & Stegun 7.1.26, the same formula as the reference backend. */
function erfSnippet(input: string, result: string): string {
  return `const erfSign = ${input} < 0 ? -1 : 1;
  const erfAbs = Math.abs(${input});
  const erfT = 1 / (1 + 0.3275911 * erfAbs);
  const erfPoly = ((((1.061405429 * erfT - 1.453152027) * erfT + 1.421413741) * erfT - 0.284496736) * erfT + 0.254829592) * erfT;
  ${result} = erfSign * (1 - erfPoly * Math.exp(-erfAbs * erfAbs));`;
}

/**
 * sigmoid without overflow: exp of a non-positive number only, e = exp(-|x|), then
 * 1 / (1 + e) for x >= 0 and e / (1 + e) below (the same two formulas as a branch on the sign,
 * bit for bit, but one exp and no divergent branch: on webasm a divergent branch evaluates
 * both sides; stock gpu.js makes each exp 4 calls out to JavaScript's Math.exp, our codegen
 * patch computes it in WebAssembly, src/backend/gpujs/webasm-codegen-patch.ts, G).
 */
const SIGMOID = `const sigE = Math.exp(-Math.abs(x));
  const sig = x >= 0 ? 1 / (1 + sigE) : sigE / (1 + sigE);`;

export const UNARY_SNIPPETS: Record<UnaryOp, string> = {
  neg: 'out = -x;',
  exp: 'out = Math.exp(x);',
  log: 'out = Math.log(x);',
  sqrt: 'out = Math.sqrt(x);',
  rsqrt: 'out = 1 / Math.sqrt(x);',
  abs: 'out = Math.abs(x);',
  sign: 'out = x > 0 ? 1 : (x < 0 ? -1 : 0);',
  relu: 'out = x > 0 ? x : 0;',
  step: 'out = x > 0 ? 1 : 0;',
  sigmoid: `${SIGMOID}
  out = sig;`,
  // tanh = (1 - e) / (1 + e) with e = exp(-2|x|) <= 1, and its Taylor series near 0 where
  // 1 - e would cancel
  tanh: `const ax = Math.abs(x);
  let t = 0;
  if (ax < 0.125) {
    const x2 = x * x;
    t = ax * (1 - x2 * (0.3333333333333333 - x2 * (0.13333333333333333 - x2 * 0.05396825396825397)));
  } else {
    const e = Math.exp(-2 * ax);
    t = (1 - e) / (1 + e);
  }
  out = x < 0 ? -t : t;`,
  silu: `${SIGMOID}
  out = x * sig;`,
  // exact gelu: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
  gelu: `const z = x * 0.7071067811865476;
  let erfZ = 0;
  ${erfSnippet('z', 'erfZ')}
  out = 0.5 * x * (1 + erfZ);`,
  erf: erfSnippet('x', 'out'),
  sin: 'out = Math.sin(x);',
  cos: 'out = Math.cos(x);',
  square: 'out = x * x;',
  reciprocal: 'out = 1 / x;',
  addScalar: 'out = x + a;',
  mulScalar: 'out = x * a;',
  powScalar: powSnippet('x', 'a'),
  clamp: 'out = x != x ? x : Math.min(Math.max(x, a), b);',
};

export const BINARY_SNIPPETS: Record<BinaryOp, string> = {
  add: 'out = x + y;',
  sub: 'out = x - y;',
  mul: 'out = x * y;',
  div: 'out = x / y;',
  pow: powSnippet('x', 'y'),
  // NaN wins, like numpy and the reference (x != x is the NaN test)
  maximum: 'out = (x >= y || x != x) ? x : y;',
  minimum: 'out = (x <= y || x != x) ? x : y;',
  eq: 'out = x == y ? 1 : 0;',
  ne: 'out = x != y ? 1 : 0;',
  lt: 'out = x < y ? 1 : 0;',
  le: 'out = x <= y ? 1 : 0;',
  gt: 'out = x > y ? 1 : 0;',
  ge: 'out = x >= y ? 1 : 0;',
  // SiLU's backward: x is dL/dy, y the SiLU's input; sigmoid of y as in SIGMOID
  siluGrad: `const sigE = Math.exp(-Math.abs(y));
  const sig = y >= 0 ? 1 / (1 + sigE) : sigE / (1 + sigE);
  out = x * (sig * (1 + y * (1 - sig)));`,
};

/**
 * out[t] = f(input[t]) over `size` elements; call with (input, a, b, NaN). a and b are scalar
 * arguments, so a new value does not recompile.
 */
export function unarySpec(op: UnaryOp, size: number): KernelSpec {
  const source = `function unary(input, a, b, nan) {
  const x = input[this.thread.x];
  let out = 0;
  ${UNARY_SNIPPETS[op]}
  return out;
}`;
  return { name: `unary.${op}`, source, output: [size], constants: {} };
}

/** out[t] = left[leftAt] op right[rightAt]; call with (left, right, leftOffset, rightOffset, NaN). */
export function binarySpec(op: BinaryOp, c: Coalesced, size: number): KernelSpec {
  const views = ['left', 'right'];
  const kinds = views.map((_, k) => viewKind(c, k));
  const strided = views.filter((_, k) => kinds[k] === 'strided');
  const read = (v: string, k: number) => (kinds[k] === 'strided' ? `${v}[${v}At]` : kinds[k] === 'contiguous' ? `${v}[this.thread.x + ${v}At]` : `${v}[${v}At]`);
  const source = `function binary(left, right, leftOffset, rightOffset, nan) {
  ${strided.length > 0 ? stridedReadsSource(c.shape.length, strided) : ''}
  ${views.filter((_, k) => kinds[k] !== 'strided').map((v) => `const ${v}At = Math.floor(${v}Offset);`).join('\n  ')}
  const x = ${read('left', 0)};
  const y = ${read('right', 1)};
  let out = 0;
  ${BINARY_SNIPPETS[op]}
  return out;
}`;
  const constants = stridedConstants(c, views);
  constants.leftKind = KIND_CODE[kinds[0]];
  constants.rightKind = KIND_CODE[kinds[1]];
  return { name: `binary.${op}`, source, output: [size], constants };
}

/**
 * How a binary op reads a view: `contiguous` (row-major over the whole output: element t is at
 * offset + t, written `v[this.thread.x + offset]`, a vector load on webasm with the
 * code-generator patch, src/backend/gpujs/webasm-codegen-patch.ts, and no index math),
 * `number` (every stride 0: one element), or `strided` (the N-d index math of strided.ts).
 */
type ViewKind = 'contiguous' | 'number' | 'strided';
const KIND_CODE: Record<ViewKind, number> = { contiguous: 1, number: 0, strided: 2 };

function viewKind(c: Coalesced, k: number): ViewKind {
  const st = c.strides[k];
  if (st.every((s) => s === 0)) return 'number';
  let expected = 1;
  for (let d = c.shape.length - 1; d >= 0; d--) {
    if (c.shape[d] !== 1 && st[d] !== expected) return 'strided';
    expected *= c.shape[d];
  }
  return 'contiguous';
}

/** out[t] = cond != 0 ? left : right; call with (cond, left, right, condOffset, leftOffset, rightOffset). */
export function whereSpec(c: Coalesced, size: number): KernelSpec {
  const source = `function where(cond, left, right, condOffset, leftOffset, rightOffset) {
  ${stridedReadsSource(c.shape.length, ['cond', 'left', 'right'])}
  if (cond[condAt] != 0) {
    return left[leftAt];
  }
  return right[rightAt];
}`;
  return { name: 'where', source, output: [size], constants: stridedConstants(c, ['cond', 'left', 'right']) };
}

/** out[t] = value (a scalar argument). */
export function fillSpec(size: number): KernelSpec {
  return { name: 'fill', source: `function fill(value) {\n  return value;\n}`, output: [size], constants: {} };
}
