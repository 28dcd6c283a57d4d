/**
 * The basic layers: each owns its parameters and calls one op (src/ops/) in forward.
 * Parameter names and layouts are PyTorch's, so checkpoints read the same in both:
 * Linear weight [out, in], Conv2d weight [cout, cin, kh, kw], biases [out], norm weight/bias [c].
 */
import { conv2d, Conv2dOptions, groupNorm, layerNorm, upsampleNearest2d, upsampleNearestConv2d } from '../ops';
import { fromArray, ones, zeros } from '../creation';
import { Generator, defaultGenerator } from '../random';
import { Tensor } from '../tensor';
import { InitOptions, fanIn, kaimingUniformDefault, uniformInit } from './init';
import { Module } from './module';

export interface LinearOptions extends InitOptions {
  /** add a learned bias (default true) */
  bias?: boolean;
}

/** y = x W^T + b over the last axis: [..., in] -> [..., out]. */
export class Linear extends Module {
  readonly weight: Tensor; // [out, in]
  readonly bias: Tensor | null; // [out]

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super();
    checkPositive('Linear', { inFeatures, outFeatures });
    this.weight = this.registerParameter('weight', kaimingUniformDefault([outFeatures, inFeatures], opts.generator));
    const bound = 1 / Math.sqrt(inFeatures);
    this.bias = opts.bias === false ? null : this.registerParameter('bias', uniformInit([outFeatures], bound, opts.generator));
  }

  forward(x: Tensor): Tensor {
    if (x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new Error(`Linear(${this.inFeatures} -> ${this.outFeatures}): input's last dim must be ${this.inFeatures}, got [${x.shape}]`);
    }
    const y = x.matmul(this.weight.transpose(0, 1));
    return this.bias ? y.add(this.bias) : y;
  }
}

export interface Conv2dLayerOptions extends InitOptions {
  stride?: number;
  padding?: number;
  bias?: boolean;
}

/** 2-D convolution [N, cin, H, W] -> [N, cout, H', W'] with a square kernel. */
export class Conv2d extends Module {
  readonly weight: Tensor; // [cout, cin, k, k]
  readonly bias: Tensor | null; // [cout]
  readonly stride: number;
  readonly padding: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    opts: Conv2dLayerOptions = {},
  ) {
    super();
    checkPositive('Conv2d', { inChannels, outChannels, kernelSize });
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    const shape = [outChannels, inChannels, kernelSize, kernelSize];
    this.weight = this.registerParameter('weight', kaimingUniformDefault(shape, opts.generator));
    const bound = 1 / Math.sqrt(fanIn(shape));
    this.bias = opts.bias === false ? null : this.registerParameter('bias', uniformInit([outChannels], bound, opts.generator));
  }

  forward(x: Tensor): Tensor {
    const conv: Conv2dOptions = { stride: this.stride, padding: this.padding };
    return conv2d(x, this.weight, this.bias, conv);
  }

  /**
   * This convolution of x upsampled 2x by nearest neighbour: forward(upsampleNearest2d(x, 2)).
   * A 3x3, stride-1, padding-1 conv (the UNet's up path) runs on the small image instead
   * (upsampleNearestConv2d: about half the multiply-adds, the same function); any other
   * runs as written.
   */
  forwardUpsampled(x: Tensor): Tensor {
    if (this.kernelSize === 3 && this.stride === 1 && this.padding === 1) return upsampleNearestConv2d(x, this.weight, this.bias);
    return this.forward(upsampleNearest2d(x, 2));
  }
}

export interface NormOptions {
  eps?: number;
  /** learn a per-channel scale and shift (default true) */
  affine?: boolean;
}

/** GroupNorm (Wu & He 2018) over [N, C, ...]; weight starts at 1, bias at 0. */
export class GroupNorm extends Module {
  readonly weight: Tensor | null; // [C]
  readonly bias: Tensor | null; // [C]
  readonly eps: number;

  constructor(
    readonly groups: number,
    readonly channels: number,
    opts: NormOptions = {},
  ) {
    super();
    checkPositive('GroupNorm', { groups, channels });
    if (channels % groups !== 0) throw new Error(`GroupNorm: ${channels} channels cannot be split into ${groups} groups`);
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.affine ?? true;
    this.weight = affine ? this.registerParameter('weight', ones([channels])) : null;
    this.bias = affine ? this.registerParameter('bias', zeros([channels])) : null;
  }

  forward(x: Tensor): Tensor {
    return groupNorm(x, this.groups, this.weight, this.bias, this.eps);
  }
}

/** LayerNorm (Ba et al. 2016) over the trailing dims `normalizedShape`. */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(normalizedShape: number | number[], opts: NormOptions = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape.slice();
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.affine ?? true;
    this.weight = affine ? this.registerParameter('weight', ones(this.normalizedShape)) : null;
    this.bias = affine ? this.registerParameter('bias', zeros(this.normalizedShape)) : null;
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
}

/** SiLU (swish), x * sigmoid(x). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return x.silu();
  }
}

export interface DropoutOptions {
  /** where the masks come from (default: the default generator) */
  generator?: Generator;
}

/**
 * Dropout (Srivastava et al. 2014), "inverted": in training each element is zeroed with
 * probability p and the survivors are scaled by 1/(1-p), so evaluation is the identity.
 */
export class Dropout extends Module {
  private readonly generator: Generator;

  constructor(
    readonly p = 0.5,
    opts: DropoutOptions = {},
  ) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout: p must be in [0, 1], got ${p}`);
    this.generator = opts.generator ?? defaultGenerator;
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const keep = 1 - this.p;
    const mask = new Float32Array(x.size);
    for (let i = 0; i < mask.length; i++) mask[i] = this.generator.uniform() < keep ? 1 / keep : 0;
    return x.mul(Tensor.fromBuf(x.backend.fromArray(mask), x.shape, x.backend));
  }
}

/** Nearest-neighbour upsampling by an integer factor: [N, C, H, W] -> [N, C, sH, sW]. */
export class Upsample extends Module {
  constructor(readonly scaleFactor = 2) {
    super();
  }

  forward(x: Tensor): Tensor {
    return upsampleNearest2d(x, this.scaleFactor);
  }
}

export interface EmbeddingOptions extends InitOptions {
  /** a row that starts at zero instead of N(0, std^2) (e.g. the null class of classifier-free guidance) */
  zeroRow?: number;
  /** standard deviation of the initial rows (default 1, as PyTorch; transformers use about 0.02) */
  std?: number;
}

/**
 * A lookup table of learned vectors: index i -> weight[i], [B] -> [B, dim] (PyTorch's
 * nn.Embedding, rows initialised N(0, 1)). Computed as onehot(indices) @ weight, so the
 * gradient is the matmul's: row i of dWeight sums the output gradients of the images that
 * looked it up, and rows nobody looked up get zero.
 */
export class Embedding extends Module {
  readonly weight: Tensor; // [num, dim]

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: EmbeddingOptions = {},
  ) {
    super();
    checkPositive('Embedding', { numEmbeddings, embeddingDim });
    const g = opts.generator ?? defaultGenerator;
    const std = opts.std ?? 1;
    const data = Float32Array.from({ length: numEmbeddings * embeddingDim }, () => g.normal() * std);
    if (opts.zeroRow !== undefined) data.fill(0, opts.zeroRow * embeddingDim, (opts.zeroRow + 1) * embeddingDim);
    this.weight = this.registerParameter('weight', fromArray(data, [numEmbeddings, embeddingDim]));
  }

  /** indices [B] (integers in [0, numEmbeddings)) -> [B, embeddingDim] */
  forward(indices: ArrayLike<number>): Tensor {
    const n = this.numEmbeddings;
    const onehot = new Float32Array(indices.length * n);
    for (let b = 0; b < indices.length; b++) {
      const i = indices[b];
      if (!(Number.isInteger(i) && i >= 0 && i < n)) throw new Error(`Embedding(${n} x ${this.embeddingDim}): index ${i} at position ${b} is not an integer in [0, ${n})`);
      onehot[b * n + i] = 1;
    }
    const w = this.weight;
    return Tensor.fromBuf(w.backend.fromArray(onehot), [indices.length, n], w.backend).matmul(w);
  }
}

function checkPositive(layer: string, sizes: Record<string, number>): void {
  for (const [name, v] of Object.entries(sizes)) {
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`${layer}: ${name} must be a positive integer, got ${v}`);
  }
}
