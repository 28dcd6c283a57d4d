/**
 * Self-attention over the pixels of a feature map (the attention block of the DDPM UNet,
 * Ho et al. 2020 appendix B; Vaswani et al. 2017 with one head):
 *   n = GroupNorm(h);  q, k, v = 1x1 convs of n, each [B, C, H*W]
 *   A = softmax(q^T k / sqrt(C)) over the keys        [B, H*W, H*W]
 *   out = h + proj(v A^T)                              [B, C, H, W]
 * Every pixel mixes in the values of the pixels whose keys match its query.
 */
import { noGrad } from '../autograd';
import { Tensor } from '../tensor';
import { InitOptions } from './init';
import { Conv2d, GroupNorm, Linear } from './layers';
import { Module } from './module';

export interface SelfAttention2dOptions extends InitOptions {
  /** GroupNorm groups (default 8) */
  groups?: number;
}

/** A large negative number: added to the scores of masked keys, it makes their softmax weight 0 in float32. */
const MASKED = -1e9;

/**
 * Additive key mask from token ids: 0 where the token is real, MASKED where it is [PAD],
 * shaped [B, 1, L] (or [B, 1, 1, L] with `heads`) to broadcast over queries (and heads).
 */
export function paddingMask(tokens: ArrayLike<number>, batch: number, like: Tensor, heads = false): Tensor {
  const len = tokens.length / batch;
  const bias = Float32Array.from(tokens, (id) => (id === 0 ? MASKED : 0));
  const shape = heads ? [batch, 1, 1, len] : [batch, 1, len];
  return Tensor.fromBuf(like.backend.fromArray(bias), shape, like.backend);
}

/**
 * Scaled dot-product attention: softmax(q k^T / sqrt(d) + mask) v over the last two axes.
 * q [..., Nq, d], k and v [..., Nk, d], mask broadcast to [..., Nq, Nk] -> [..., Nq, d].
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, mask?: Tensor): Tensor {
  const d = q.shape[q.ndim - 1];
  let scores = q.matmul(k.transpose(-2, -1)).mul(1 / Math.sqrt(d));
  if (mask) scores = scores.add(mask);
  return scores.softmax(-1).matmul(v);
}

export class SelfAttention2d extends Module {
  readonly norm: GroupNorm;
  readonly q: Conv2d;
  readonly k: Conv2d;
  readonly v: Conv2d;
  readonly proj: Conv2d;

  constructor(
    readonly channels: number,
    opts: SelfAttention2dOptions = {},
  ) {
    super();
    const init = { generator: opts.generator };
    this.norm = this.registerModule('norm', new GroupNorm(opts.groups ?? 8, channels));
    this.q = this.registerModule('q', new Conv2d(channels, channels, 1, init));
    this.k = this.registerModule('k', new Conv2d(channels, channels, 1, init));
    this.v = this.registerModule('v', new Conv2d(channels, channels, 1, init));
    this.proj = this.registerModule('proj', new Conv2d(channels, channels, 1, init));
  }

  forward(h: Tensor): Tensor {
    const [b, c, height, width] = h.shape;
    const n = this.norm.forward(h);
    const q = this.q.forward(n).reshape([b, c, height * width]).transpose(1, 2); // [B, N, C]
    const k = this.k.forward(n).reshape([b, c, height * width]).transpose(1, 2); // [B, N, C]
    const v = this.v.forward(n).reshape([b, c, height * width]).transpose(1, 2); // [B, N, C]
    const attended = attention(q, k, v).transpose(1, 2).reshape([b, c, height, width]); // [B, C, H, W]
    return h.add(this.proj.forward(attended));
  }
}

export interface CrossAttention2dOptions extends SelfAttention2dOptions {}

/**
 * Cross-attention from the pixels of a feature map to the tokens of a text (Stable
 * Diffusion's UNet, Rombach et al. 2022, after Vaswani et al. 2017's encoder-decoder
 * attention; one head):
 *   n = GroupNorm(h);  q = 1x1 conv of n, [B, H*W, C]     queries from image positions
 *   k, v = Linear(context), [B, L, C]                        keys and values from tokens
 *   A = softmax(q k^T / sqrt(C) + mask) over the tokens      [B, H*W, L], [PAD] masked out
 *   out = h + proj(A v)                                      [B, C, H, W]
 * Every pixel mixes in what the words it matches say. `proj` starts at zero (weights and
 * bias), so at initialisation the block passes h through unchanged.
 */
export class CrossAttention2d extends Module {
  readonly norm: GroupNorm;
  readonly q: Conv2d;
  readonly k: Linear;
  readonly v: Linear;
  readonly proj: Conv2d;

  constructor(
    readonly channels: number,
    readonly contextDim: number,
    opts: CrossAttention2dOptions = {},
  ) {
    super();
    const init = { generator: opts.generator };
    this.norm = this.registerModule('norm', new GroupNorm(opts.groups ?? 8, channels));
    this.q = this.registerModule('q', new Conv2d(channels, channels, 1, init));
    this.k = this.registerModule('k', new Linear(contextDim, channels, init));
    this.v = this.registerModule('v', new Linear(contextDim, channels, init));
    this.proj = this.registerModule('proj', new Conv2d(channels, channels, 1, init));
    noGrad(() => {
      this.proj.weight.assign_(this.proj.weight.zerosLike());
      this.proj.bias?.assign_(this.proj.bias.zerosLike());
    });
  }

  /** h [B, C, H, W], context [B, L, contextDim], mask [B, 1, L] (additive) -> [B, C, H, W] */
  forward(h: Tensor, context: Tensor, mask?: Tensor): Tensor {
    const [b, c, height, width] = h.shape;
    if (context.ndim !== 3 || context.shape[0] !== b || context.shape[2] !== this.contextDim) {
      throw new Error(`CrossAttention2d: context must be [${b}, L, ${this.contextDim}], got [${context.shape}]`);
    }
    const q = this.q.forward(this.norm.forward(h)).reshape([b, c, height * width]).transpose(1, 2); // [B, N, C]
    const attended = attention(q, this.k.forward(context), this.v.forward(context), mask); // [B, N, C]
    return h.add(this.proj.forward(attended.transpose(1, 2).reshape([b, c, height, width])));
  }
}
