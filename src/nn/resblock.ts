/**
 * The residual block of the DDPM UNet, conditioned on the time embedding e
 * (Ho et al. 2020 appendix B, after the wide ResNet of Zagoruyko & Komodakis 2016):
 *   y = conv1(SiLU(norm1(h)))                 [B, cout, H, W]
 *   y = y + temb(SiLU(e))[:, :, None, None]   the timestep shifts every channel
 *   y = conv2(SiLU(norm2(y)))
 *   out = y + skip(h)                         skip = 1x1 conv when cin != cout, else identity
 */
import { Tensor } from '../tensor';
import { InitOptions } from './init';
import { Conv2d, GroupNorm, Linear } from './layers';
import { Module } from './module';

export interface ResBlockOptions extends InitOptions {
  /** GroupNorm groups (default 8) */
  groups?: number;
}

export class ResBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly temb: Linear;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly skip: Conv2d | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly timeDim: number,
    opts: ResBlockOptions = {},
  ) {
    super();
    const groups = opts.groups ?? 8;
    const init = { generator: opts.generator };
    this.norm1 = this.registerModule('norm1', new GroupNorm(groups, inChannels));
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, outChannels, 3, { padding: 1, ...init }));
    this.temb = this.registerModule('temb', new Linear(timeDim, outChannels, init));
    this.norm2 = this.registerModule('norm2', new GroupNorm(groups, outChannels));
    this.conv2 = this.registerModule('conv2', new Conv2d(outChannels, outChannels, 3, { padding: 1, ...init }));
    this.skip = inChannels !== outChannels ? this.registerModule('skip', new Conv2d(inChannels, outChannels, 1, init)) : null;
  }

  /** h [B, cin, H, W], e [B, timeDim] -> [B, cout, H, W] */
  forward(h: Tensor, e: Tensor): Tensor {
    let y = this.conv1.forward(this.norm1.forward(h).silu());
    y = y.add(this.temb.forward(e.silu()).reshape([e.shape[0], this.outChannels, 1, 1]));
    y = this.conv2.forward(this.norm2.forward(y).silu());
    return y.add(this.skip ? this.skip.forward(h) : h);
  }
}
