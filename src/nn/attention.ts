/**
 * Self-attention over the pixels of a feature map (the attention block of the DDPM UNet,
 * Ho et al. 2020 appendix B; Vaswani et al. 2017 with one head):
 *   n = GroupNorm(h);  q, k, v = 1x1 convs of n, each [B, C, H*W]
 *   A = softmax(q^T k / sqrt(C)) over the keys        [B, H*W, H*W]
 *   out = h + proj(v A^T)                              [B, C, H, W]
 * Every pixel mixes in the values of the pixels whose keys match its query.
 */
import { Tensor } from '../tensor';
import { InitOptions } from './init';
import { Conv2d, GroupNorm } from './layers';
import { Module } from './module';

export interface SelfAttention2dOptions extends InitOptions {
  /** GroupNorm groups (default 8) */
  groups?: number;
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
    const k = this.k.forward(n).reshape([b, c, height * width]); // [B, C, N]
    const v = this.v.forward(n).reshape([b, c, height * width]).transpose(1, 2); // [B, N, C]
    const weights = q.matmul(k).mul(1 / Math.sqrt(c)).softmax(-1); // [B, N queries, N keys]
    const attended = weights.matmul(v).transpose(1, 2).reshape([b, c, height, width]); // [B, C, H, W]
    return h.add(this.proj.forward(attended));
  }
}
