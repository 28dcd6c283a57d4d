/**
 * Diffusion in the autoencoder's latent space (Rombach et al. 2022): the training images are
 * encoded once, through the encoder's mean, into latents [N, zc, S/4, S/4]; the latents are
 * scaled by one number so that they have unit standard deviation, as the forward process
 * assumes of its data (Stable Diffusion's 0.18215 is the same number for its autoencoder);
 * the UNet learns to denoise scaled latents; and a sample is decoded back to an image once,
 * at the end: image = decoder(z / scale).
 */
import * as fs from 'fs';
import { noGrad } from '../autograd';
import { tensor } from '../creation';
import { toSignedPixels, type ImageDataset } from '../data/dataset';
import { loadCheckpointModule } from '../checkpoint/training';
import { Autoencoder, type AutoencoderConfig } from './model';
import { isAutoencoderCheckpoint, loadAutoencoder } from './train';

/** What a latent run's checkpoint records about its latent space (config.latent). */
export interface LatentInfo {
  /** the autoencoder file the run was started with (its weights are stored in the checkpoint too) */
  autoencoder: string;
  autoencoderConfig: AutoencoderConfig;
  /** latents are multiplied by this before diffusion (1 / their standard deviation over the training set) */
  scale: number;
  latentShape: [number, number, number];
  /** the images' shape [C, H, W] */
  imageShape: [number, number, number];
}

/** The encoder's means of every image of a dataset (pixels [0, 1] -> [-1, 1] first), in batches. */
export function encodeImages(ae: Autoencoder, ds: ImageDataset, batch = 250): Float32Array {
  const per = ds.channels * ds.height * ds.width;
  const [zc, zs] = ae.latentShape;
  const out = new Float32Array(ds.n * zc * zs * zs);
  noGrad(() => {
    for (let start = 0; start < ds.n; start += batch) {
      const b = Math.min(batch, ds.n - start);
      const x = tensor(toSignedPixels(ds.images.subarray(start * per, (start + b) * per)), [b, ds.channels, ds.height, ds.width]);
      out.set(ae.encode(x).mean.toArray(), start * zc * zs * zs);
    }
  });
  return out;
}

/** 1 / (the standard deviation of all latent values), in float64. */
export function latentScale(latents: Float32Array): number {
  let mean = 0;
  for (const v of latents) mean += v;
  mean /= latents.length;
  let ss = 0;
  for (const v of latents) ss += (v - mean) * (v - mean);
  const std = Math.sqrt(ss / latents.length);
  if (!(std > 0)) throw new Error('latentScale: the latents have no spread (the autoencoder maps every image to the same latent)');
  return 1 / std;
}

/** Decode scaled latents [n, zc, zs, zs] to images [n, C, H, W] in [-1, 1]. */
export function decodeLatents(ae: Autoencoder, scale: number, latents: Float32Array, n: number, batch = 250): Float32Array {
  const [zc, zs] = ae.latentShape;
  const { inChannels: c, imageSize: s } = ae.config;
  const out = new Float32Array(n * c * s * s);
  noGrad(() => {
    for (let start = 0; start < n; start += batch) {
      const b = Math.min(batch, n - start);
      const z = tensor(latents.subarray(start * zc * zs * zs, (start + b) * zc * zs * zs), [b, zc, zs, zs]).mul(1 / scale);
      out.set(ae.decode(z).clamp(-1, 1).toArray(), start * c * s * s);
    }
  });
  return out;
}

export interface LatentSpace {
  info: LatentInfo;
  autoencoder: Autoencoder;
  /** the training set as scaled latents: an ImageDataset whose values are used as they are (no [0, 1] -> [-1, 1]) */
  dataset: ImageDataset;
  decode(latents: Float32Array, n: number): Float32Array;
}

/**
 * The latent space of a run: the autoencoder from `file` (or, when resuming, the one stored in
 * the checkpoint `resumeFrom`, so the data are encoded exactly as before), its scale, and the
 * dataset encoded. The autoencoder's image shape must be the dataset's.
 */
export function openLatentSpace(file: string, pixels: ImageDataset, resumeFrom?: { checkpoint: string; info: LatentInfo }): LatentSpace {
  if (!fs.existsSync(file)) throw new Error(`train: --latent: no file '${file}'`);
  if (!isAutoencoderCheckpoint(file)) throw new Error(`train: --latent: '${file}' is not an autoencoder checkpoint (train one with tiny-ddpm train-ae)`);
  let autoencoder: Autoencoder;
  if (resumeFrom) {
    autoencoder = new Autoencoder(resumeFrom.info.autoencoderConfig);
    loadCheckpointModule(resumeFrom.checkpoint, 'autoencoder', autoencoder);
    autoencoder.eval();
  } else {
    autoencoder = loadAutoencoder(file, 'train: --latent').model;
  }
  const { inChannels: c, imageSize: s } = autoencoder.config;
  if (pixels.channels !== c || pixels.height !== s || pixels.width !== s) {
    throw new Error(`train: --latent: the autoencoder '${file}' takes ${c}x${s}x${s} images, but ${pixels.name} has ${pixels.channels}x${pixels.height}x${pixels.width}`);
  }
  const latents = encodeImages(autoencoder, pixels);
  const scale = resumeFrom ? resumeFrom.info.scale : latentScale(latents);
  for (let i = 0; i < latents.length; i++) latents[i] *= scale;
  const latentShape = autoencoder.latentShape;
  const info: LatentInfo = { autoencoder: file, autoencoderConfig: autoencoder.config, scale, latentShape, imageShape: [c, s, s] };
  const dataset: ImageDataset = {
    ...pixels, name: `${pixels.name} (latents of ${file})`, images: latents, channels: latentShape[0], height: latentShape[1], width: latentShape[2],
  };
  return { info, autoencoder, dataset, decode: (z, n) => decodeLatents(autoencoder, scale, z, n) };
}
