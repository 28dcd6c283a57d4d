/**
 * A small variational autoencoder (Kingma & Welling 2014) for 28x28 digits: the first of
 * Stable Diffusion's three parts at our scale (Rombach et al. 2022 train an autoencoder
 * first, then diffuse in its latent space), and on its own the baseline generator that shows
 * why diffusion is sharper (docs/07).
 *
 *   encoder  x [B, C, S, S] -> conv 3x3, SiLU                                  [B, c0, S, S]
 *            -> conv 3x3 stride 2, GroupNorm, SiLU                              [B, c0, S/2, S/2]
 *            -> conv 3x3, GroupNorm, SiLU                                       [B, c1, S/2, S/2]
 *            -> conv 3x3 stride 2, GroupNorm, SiLU                              [B, c1, S/4, S/4]
 *            -> conv 1x1 -> mean, log-variance                                  [B, zc, S/4, S/4] each
 *   sample   z = mean + exp(logvar / 2) * eps,  eps ~ N(0, I)                   (the reparameterization)
 *   decoder  z -> conv 3x3, GroupNorm, SiLU -> conv 3x3, GroupNorm, SiLU       [B, c1, S/4, S/4]
 *            -> upsample x2, conv 3x3, GroupNorm, SiLU                          [B, c0, S/2, S/2]
 *            -> upsample x2, conv 3x3, GroupNorm, SiLU                          [B, c0, S, S]
 *            -> conv 3x3                                                        [B, C, S, S]
 *
 * The loss of one image is the negative evidence lower bound of a Gaussian decoder,
 *   sum over pixels (x_hat - x)^2  +  beta * KL( N(mean, exp(logvar)) || N(0, I) ),
 *   KL = 1/2 sum over latent elements (mean^2 + exp(logvar) - 1 - logvar)      (closed form),
 * averaged over the batch. With beta = 1 it is the ELBO of a decoder of variance 1/2 (images in
 * [-1, 1]); a smaller beta trades a less Gaussian latent for sharper reconstructions.
 */
import { randn } from '../creation';
import { Generator } from '../random';
import type { Tensor } from '../tensor';
import { Conv2d, GroupNorm, SiLU, Upsample } from '../nn/layers';
import { Module, Sequential } from '../nn/module';

export interface AutoencoderConfig {
  /** 1 for gray images */
  inChannels: number;
  /** height = width of the images; divisible by 4 (two stride-2 convolutions) */
  imageSize: number;
  /** channels at full and at half resolution [c0, c1] */
  channels: [number, number];
  /** channels of the latent, at imageSize / 4 */
  latentChannels: number;
  /** GroupNorm groups (divides c0 and c1) */
  groups: number;
}

export const DEFAULT_AUTOENCODER_CONFIG: AutoencoderConfig = { inChannels: 1, imageSize: 28, channels: [32, 64], latentChannels: 4, groups: 8 };

export function validateAutoencoderConfig(c: AutoencoderConfig): AutoencoderConfig {
  for (const k of ['inChannels', 'imageSize', 'latentChannels', 'groups'] as const) {
    if (!(Number.isInteger(c[k]) && c[k] > 0)) throw new Error(`Autoencoder config: ${k} must be a positive integer, got ${JSON.stringify(c[k])}`);
  }
  if (!Array.isArray(c.channels) || c.channels.length !== 2 || !c.channels.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`Autoencoder config: channels must be two positive integers [c0, c1], got ${JSON.stringify(c.channels)}`);
  }
  if (c.imageSize % 4 !== 0) throw new Error(`Autoencoder config: imageSize must be divisible by 4 (two stride-2 convolutions), got ${c.imageSize}`);
  if (c.channels.some((v) => v % c.groups !== 0)) throw new Error(`Autoencoder config: channels [${c.channels}] must divide into ${c.groups} groups`);
  return c;
}

export interface Encoded {
  mean: Tensor;
  logvar: Tensor;
}

export class Autoencoder extends Module {
  readonly config: AutoencoderConfig;
  readonly encoder: Sequential;
  readonly toMoments: Conv2d;
  readonly decoder: Sequential;

  constructor(config: AutoencoderConfig = DEFAULT_AUTOENCODER_CONFIG, opts: { generator?: Generator } = {}) {
    super();
    const c = (this.config = validateAutoencoderConfig({ ...config, channels: [config.channels[0], config.channels[1]] }));
    const g = opts.generator;
    const [c0, c1] = c.channels;
    const conv = (cin: number, cout: number, stride = 1) => new Conv2d(cin, cout, 3, { padding: 1, stride, generator: g });
    const norm = (ch: number) => new GroupNorm(c.groups, ch);
    this.encoder = this.registerModule('encoder', new Sequential(
      conv(c.inChannels, c0), new SiLU(),
      conv(c0, c0, 2), norm(c0), new SiLU(),
      conv(c0, c1), norm(c1), new SiLU(),
      conv(c1, c1, 2), norm(c1), new SiLU(),
    ));
    this.toMoments = this.registerModule('to_moments', new Conv2d(c1, 2 * c.latentChannels, 1, { generator: g }));
    this.decoder = this.registerModule('decoder', new Sequential(
      conv(c.latentChannels, c1), norm(c1), new SiLU(),
      conv(c1, c1), norm(c1), new SiLU(),
      new Upsample(2), conv(c1, c0), norm(c0), new SiLU(),
      new Upsample(2), conv(c0, c0), norm(c0), new SiLU(),
      conv(c0, c.inChannels),
    ));
  }

  /** The latent's shape for one image: [latentChannels, imageSize / 4, imageSize / 4]. */
  get latentShape(): [number, number, number] {
    const s = this.config.imageSize / 4;
    return [this.config.latentChannels, s, s];
  }

  /** q(z | x) = N(mean, exp(logvar)), each [B, zc, S/4, S/4]. */
  encode(x: Tensor): Encoded {
    const { inChannels, imageSize } = this.config;
    if (x.ndim !== 4 || x.shape[1] !== inChannels || x.shape[2] !== imageSize || x.shape[3] !== imageSize) {
      throw new Error(`Autoencoder.encode: images must be [B, ${inChannels}, ${imageSize}, ${imageSize}], got [${x.shape}]`);
    }
    const moments = this.toMoments.forward(this.encoder.forward(x));
    const zc = this.config.latentChannels;
    return { mean: moments.slice(1, 0, zc), logvar: moments.slice(1, zc, 2 * zc).clamp(-30, 20) };
  }

  decode(z: Tensor): Tensor {
    const [zc, s] = this.latentShape;
    if (z.ndim !== 4 || z.shape[1] !== zc || z.shape[2] !== s || z.shape[3] !== s) {
      throw new Error(`Autoencoder.decode: latents must be [B, ${zc}, ${s}, ${s}], got [${z.shape}]`);
    }
    return this.decoder.forward(z);
  }

  /** z = mean + sigma * eps (the reparameterization: the gradient flows through mean and sigma). */
  static reparameterize(e: Encoded, generator?: Generator): Tensor {
    const eps = randn(e.mean.shape, { generator });
    return e.mean.add(e.logvar.mul(0.5).exp().mul(eps));
  }

  forward(x: Tensor): Tensor {
    return this.decode(this.encode(x).mean);
  }
}

/** KL( N(mean, exp(logvar)) || N(0, I) ) of each image, summed over its latent elements: [B]. */
export function klDivergence(e: Encoded): Tensor {
  const per = e.mean.square().add(e.logvar.exp()).sub(1).sub(e.logvar).mul(0.5);
  return per.reshape([per.shape[0], -1]).sum(1);
}

export interface VaeLoss {
  loss: Tensor;
  /** mean over the batch of the per-image squared error (summed over pixels) */
  reconstruction: number;
  /** mean over the batch of the per-image KL */
  kl: number;
}

/** The negative ELBO (with beta) of a batch x in [-1, 1], averaged over the batch. */
export function vaeLoss(model: Autoencoder, x: Tensor, beta: number, generator?: Generator): VaeLoss {
  const e = model.encode(x);
  const z = Autoencoder.reparameterize(e, generator);
  const xHat = model.decode(z);
  const b = x.shape[0];
  const rec = xHat.sub(x).square().reshape([b, -1]).sum(1).mean();
  const kl = klDivergence(e).mean();
  return { loss: rec.add(kl.mul(beta)), reconstruction: rec.item(), kl: kl.item() };
}
