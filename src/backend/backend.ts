/**
 * The Backend interface: the few low-level operations that every device must provide.
 *
 * Everything a tensor can do is built from these (see src/ops/): a backend only moves
 * numbers. Backward rules are written with tensor ops, except those of convolution and
 * resampling, whose gradients are kernels of this same interface (conv2dBackwardInput,
 * conv2dBackwardWeight, sumPool2d / upsampleNearest2d): a backend that implements this
 * interface trains.
 *
 * Conventions
 * - A `Buf` is a backend's own storage handle (a Float32Array for the reference backend, a
 *   Float32Array or a GPU texture for gpu.js). Its element type is always float32.
 * - Unless a parameter is a `StridedView`, a Buf argument is read as a dense row-major
 *   (contiguous) array of the stated size, from element 0.
 * - Every method returns a NEW Buf and never writes into its arguments (GPU kernels cannot
 *   write into their own inputs).
 * - Indices returned by argmax/argmin are float32 numbers.
 */
export type Buf = unknown;

/** A strided read of a Buf: element [i0..ik] of a tensor of some shape is at offset + sum(i_d * strides[d]). */
export interface StridedView {
  buf: Buf;
  strides: number[];
  offset: number;
}

export const UNARY_OPS = [
  'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sign', 'relu', 'step', 'sigmoid', 'tanh', 'silu',
  'gelu', 'erf', 'sin', 'cos', 'square', 'reciprocal',
  // with scalar parameters a (and b):
  'addScalar', 'mulScalar', 'powScalar', 'clamp',
] as const;
/**
 * Elementwise one-input ops. `step` is 1 where x > 0 else 0. `gelu` is the exact form
 * x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)). Scalar-parameter ops: addScalar x + a,
 * mulScalar x * a, powScalar x ** a, clamp min(max(x, a), b).
 */
export type UnaryOp = (typeof UNARY_OPS)[number];

/** siluGrad(g, x) = g * d/dx[x sigmoid(x)] = g s (1 + x (1 - s)), s = sigmoid(x): SiLU's backward in one pass */
export const BINARY_OPS = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'siluGrad'] as const;
/** Elementwise two-input ops. Comparisons give 1 for true and 0 for false. */
export type BinaryOp = (typeof BINARY_OPS)[number];

export const REDUCE_OPS = ['sum', 'max', 'min', 'argmax', 'argmin'] as const;
export type ReduceOp = (typeof REDUCE_OPS)[number];

export interface MatmulParams {
  /** number of matrix products */
  batch: number;
  m: number;
  k: number;
  n: number;
  /** a is stored [batch, k, m] and read transposed (else [batch, m, k]) */
  transA: boolean;
  /** b is stored [batch, n, k] and read transposed (else [batch, k, n]) */
  transB: boolean;
  /** a holds a single matrix that every batch entry uses */
  broadcastA: boolean;
  /** b holds a single matrix that every batch entry uses */
  broadcastB: boolean;
}

/** 2-D convolution (cross-correlation, as in every framework), dilation 1, groups 1. */
export interface Conv2dParams {
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  /** output size: floor((h + 2 padH - kh) / strideH) + 1, likewise ow */
  oh: number;
  ow: number;
}

/**
 * Nearest-neighbour upsampling of [n, c, h, w] by integer factors into [n, c, outH, outW]:
 * out[.., i, j] = x[.., floor(i / scaleH), floor(j / scaleW)] where that source row and column
 * exist, else 0. With outH = h * scaleH it is the usual upsampling; with a larger outH it is
 * also the backward of sumPool2d over an input whose size the pool did not divide.
 */
export interface UpsampleParams {
  n: number;
  c: number;
  h: number;
  w: number;
  scaleH: number;
  scaleW: number;
  outH: number;
  outW: number;
}

/**
 * Zero padding of planes [planes, h, w] into [planes, outH, outW]: plane element (y, x) lands at
 * (top + y, left + x), and every other element is 0 (outH >= top + h, outW >= left + w).
 */
export interface Pad2dParams {
  planes: number;
  h: number;
  w: number;
  top: number;
  left: number;
  outH: number;
  outW: number;
}

/** Sum over non-overlapping kh x kw windows (stride = kernel), [n, c, h, w] -> [n, c, floor(h/kh), floor(w/kw)]. */
export interface PoolParams {
  n: number;
  c: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
}

/** One Adam(W) step for one parameter (Kingma & Ba 2015; Loshchilov & Hutter 2019). */
export interface AdamParams {
  size: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** L2 penalty added to the gradient (Adam) or decoupled decay (AdamW) */
  weightDecay: number;
  decoupled: boolean;
  /** 1 - beta1^t and 1 - beta2^t, the bias corrections of step t */
  biasCorrection1: number;
  biasCorrection2: number;
}

/**
 * GroupNorm of x [n, c, hw] (hw = the positions of each channel, flattened): the c channels
 * form `groups` groups of c / groups consecutive channels; each (image, group) is normalized
 * over its L = (c / groups) * hw elements.
 */
export interface GroupNormParams {
  n: number;
  c: number;
  groups: number;
  hw: number;
  eps: number;
}

export interface Backend {
  /** e.g. 'ref', 'gpujs-webasm' */
  readonly name: string;

  // ---- storage ----
  fromArray(data: Float32Array): Buf;
  /** Copy `size` elements back to the host. */
  toArray(buf: Buf, size: number): Float32Array;
  full(size: number, value: number): Buf;
  /** Release device memory now (optional: host memory is left to the garbage collector). */
  free?(buf: Buf): void;

  // ---- layout ----
  /** Gather a strided view of `shape` into a new contiguous Buf. */
  copyStrided(src: StridedView, shape: number[]): Buf;
  /**
   * Join rows: parts[p] is [outer, widths[p]] contiguous; the result is [outer, sum(widths)]
   * with part p's columns after those of parts 0..p-1.
   */
  concat(parts: Buf[], widths: number[], outer: number): Buf;

  // ---- elementwise ----
  unary(op: UnaryOp, x: Buf, size: number, a?: number, b?: number): Buf;
  /** out[idx] = a[idx] op b[idx] over `shape`; broadcasting is expressed by 0 strides. */
  binary(op: BinaryOp, a: StridedView, b: StridedView, shape: number[]): Buf;
  /** out[idx] = cond[idx] != 0 ? a[idx] : b[idx] */
  where(cond: StridedView, a: StridedView, b: StridedView, shape: number[]): Buf;

  // ---- reductions ----
  /** x is [outer, n]; the result is [outer], reducing each row. */
  reduce(op: ReduceOp, x: Buf, outer: number, n: number): Buf;
  /** Numerically stable softmax of each row of x [outer, n]: exp(x - max) / sum. */
  softmax(x: Buf, outer: number, n: number): Buf;

  // ---- linear algebra and images ----
  matmul(a: Buf, b: Buf, p: MatmulParams): Buf;
  /** x [n, cin, h, w], w [cout, cin, kh, kw] -> [n, cout, oh, ow]; bias [cout], when given, is added to every position of channel co after the sum */
  conv2d(x: Buf, w: Buf, p: Conv2dParams, bias?: Buf): Buf;
  /** dL/dx [n, cin, h, w] from dL/dy [n, cout, oh, ow] and w */
  conv2dBackwardInput(gy: Buf, w: Buf, p: Conv2dParams): Buf;
  /** dL/dw [cout, cin, kh, kw] from x and dL/dy */
  conv2dBackwardWeight(x: Buf, gy: Buf, p: Conv2dParams): Buf;
  /** dL/dbias [cout] from dL/dy [n, cout, oh, ow]: the sum over images and positions */
  conv2dBackwardBias(gy: Buf, p: Conv2dParams): Buf;
  upsampleNearest2d(x: Buf, p: UpsampleParams): Buf;
  sumPool2d(x: Buf, p: PoolParams): Buf;
  /** x [planes, h, w] inside zeros, [planes, outH, outW] (Pad2dParams) */
  pad2d(x: Buf, p: Pad2dParams): Buf;

  // ---- normalization ----
  /**
   * y = (x - mean) * rstd * weight[c] + bias[c], with mean and rstd = 1 / sqrt(var + eps) of
   * each (image, group), var biased (divide by L). Also returns mean and rstd [n * groups]
   * for the backward pass.
   */
  groupNormForward(x: Buf, weight: Buf, bias: Buf, p: GroupNormParams): { y: Buf; mean: Buf; rstd: Buf };
  /**
   * From dL/dy and the forward's x, mean, rstd: with xhat = (x - mean) * rstd and
   * g = dL/dy * weight[c] (the gradient in xhat),
   *   dL/dx = rstd * (g - mean_group(g) - xhat * mean_group(g * xhat)),
   *   dL/dweight[c] = sum over images and positions of dL/dy * xhat,  dL/dbias[c] = of dL/dy.
   */
  groupNormBackward(gy: Buf, x: Buf, mean: Buf, rstd: Buf, weight: Buf, p: GroupNormParams): { gx: Buf; gweight: Buf; gbias: Buf };

  // ---- optimizer ----
  /** Returns the new parameter and moments; m and v are the first and second moments. */
  adamStep(param: Buf, grad: Buf, m: Buf, v: Buf, p: AdamParams): { param: Buf; m: Buf; v: Buf };
}

export function convOutputSize(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}
