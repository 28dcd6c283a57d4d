/**
 * The small-to-large decoder of a two-stage generator (docs/07, section 7): a network that
 * turns a 14x14 digit into the 28x28 one. A diffusion model makes the small image, each of
 * its steps on a quarter of the pixels (a third of the time of a 28x28 step, measured in the
 * README); this model adds the detail in one pass.
 *
 *   base  = upsample_nearest_2x(small)                 [B, C, 2s, 2s]   each pixel copied into a 2x2 block
 *   large = base + unet(base, t = 0)                   [B, C, 2s, 2s]   the UNet adds what copying misses
 *
 * The UNet is the denoiser's network used as a plain image-to-image map: its time input is
 * held at 0, so its time embedding is one learned vector. It regresses the large image: the
 * loss is the mean squared error against the real 28x28 digit, whose 2x2 area average is the
 * small input (upsamplerLoss). Regression predicts the mean of the large images a small one
 * could come from; at a factor 2 on digits that mean is nearly one image, which is why a
 * regression model is enough here where Imagen and cascaded diffusion (Ho et al. 2022) use a
 * second diffusion model for factors of 4 on photographs.
 *
 * The small images it will enlarge are a diffusion model's samples, not real ones, so during
 * training Gaussian noise of standard deviation `noiseAug` can be added to the small input (the
 * "conditioning augmentation" of Ho et al. 2022), so the model does not rely on details the first
 * stage gets wrong.
 */
import { randn } from '../creation';
import { avgPool2d, upsampleNearest2d } from '../ops';
import { Generator } from '../random';
import type { Tensor } from '../tensor';
import { Module } from '../nn/module';
import { UNet, validateUNetConfig, type UNetConfig } from '../nn/unet';

export interface UpsamplerConfig {
  /** the small images' size s (the large ones are 2s x 2s) */
  smallSize: number;
  /** the UNet that adds the detail: its inChannels are the images' channels */
  unet: UNetConfig;
}

export function validateUpsamplerConfig(c: UpsamplerConfig): UpsamplerConfig {
  if (!(Number.isInteger(c.smallSize) && c.smallSize >= 1)) throw new Error(`Upsampler config: smallSize must be a positive integer, got ${JSON.stringify(c.smallSize)}`);
  validateUNetConfig(c.unet);
  if (c.unet.numClasses || c.unet.text) throw new Error('Upsampler config: its UNet takes no class or text condition');
  const factor = 2 ** (c.unet.channelMults.length - 1);
  if ((2 * c.smallSize) % factor !== 0) throw new Error(`Upsampler config: its UNet halves ${c.unet.channelMults.length - 1} times, so the large size ${2 * c.smallSize} must divide by ${factor}`);
  return c;
}

export class Upsampler extends Module {
  readonly config: UpsamplerConfig;
  readonly unet: UNet;

  constructor(config: UpsamplerConfig, opts: { generator?: Generator } = {}) {
    super();
    this.config = validateUpsamplerConfig({ ...config, unet: { ...config.unet } });
    this.unet = this.registerModule('unet', new UNet(this.config.unet, { generator: opts.generator }));
  }

  get channels(): number {
    return this.config.unet.inChannels;
  }

  get largeSize(): number {
    return 2 * this.config.smallSize;
  }

  /** small [B, C, s, s] -> large [B, C, 2s, 2s] (values in [-1, 1] in, not clamped out) */
  forward(small: Tensor): Tensor {
    const { smallSize: s } = this.config;
    const c = this.channels;
    if (small.ndim !== 4 || small.shape[1] !== c || small.shape[2] !== s || small.shape[3] !== s) {
      throw new Error(`Upsampler: input must be [B, ${c}, ${s}, ${s}], got [${small.shape}]`);
    }
    const base = upsampleNearest2d(small, 2);
    return base.add(this.unet.forward(base, new Float32Array(small.shape[0])));
  }
}

export interface UpsamplerLoss {
  loss: Tensor;
  /** the same mean squared error, as a number */
  mse: number;
}

/**
 * The training loss of a batch of large images x [B, C, 2s, 2s] in [-1, 1]: the small input is
 * their 2x2 area average (plus N(0, noiseAug^2) noise when noiseAug > 0), the target x itself;
 * the mean over pixels of (upsampler(small) - x)^2.
 */
export function upsamplerLoss(model: Upsampler, x: Tensor, noiseAug = 0, generator?: Generator): UpsamplerLoss {
  let small = avgPool2d(x, 2).detach();
  if (noiseAug > 0) small = small.add(randn(small.shape, { generator }).mul(noiseAug));
  const loss = model.forward(small).sub(x).square().mean();
  return { loss, mse: loss.item() };
}
