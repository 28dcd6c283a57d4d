/**
 * The bodies of `tiny-ddpm train-ae` (train the autoencoder, src/vae/) and of
 * `tiny-ddpm sample --vae` (decode z ~ N(0, I): the VAE's own samples).
 */
import * as fs from 'fs';
import * as path from 'path';
import { noGrad } from '../autograd';
import { randn } from '../creation';
import { writeGridPng } from '../image/png';
import { Generator } from '../random';
import { writeSingleImages } from '../train/pictures';
import { loadAutoencoder } from '../vae/train';

export interface VaeSampleArgs {
  vae: string;
  n: number;
  seed: number;
  batchSize: number;
  out?: string;
}

/** Prior samples of an autoencoder: grid.png and images/ (what `eval` scores), like `sample`. */
export function vaeSampleCommand(a: VaeSampleArgs, log: (s: string) => void): { dir: string; seconds: number } {
  if (!(Number.isInteger(a.n) && a.n >= 1)) throw new Error(`sample: --n must be an integer >= 1, got ${a.n}`);
  if (!(Number.isInteger(a.batchSize) && a.batchSize >= 1)) throw new Error(`sample: --batch-size must be an integer >= 1, got ${a.batchSize}`);
  const { model, config } = loadAutoencoder(a.vae, 'sample: --vae');
  const out = a.out ?? path.join(path.dirname(a.vae), 'prior');
  const [zc, zs] = model.latentShape;
  const { inChannels: c, imageSize: s } = config;
  log(`sampling ${a.n} images ${c}x${s}x${s} from the prior of the autoencoder ${a.vae}: z ~ N(0, I) of shape ${zc}x${zs}x${zs}, decoded`);
  const started = Date.now();
  const generator = new Generator(a.seed);
  const images = new Float32Array(a.n * c * s * s);
  noGrad(() => {
    for (let done = 0; done < a.n; done += a.batchSize) {
      const b = Math.min(a.batchSize, a.n - done);
      const x = model.decode(randn([b, zc, zs, zs], { generator })).clamp(-1, 1).toArray();
      images.set(x, done * c * s * s);
    }
  });
  const seconds = (Date.now() - started) / 1000;
  fs.mkdirSync(out, { recursive: true });
  writeGridPng(path.join(out, 'grid.png'), images, a.n, c, s, s, { nrow: Math.ceil(Math.sqrt(a.n)) });
  writeSingleImages(path.join(out, 'images'), images, a.n, c, s, s);
  log(`wrote ${path.join(out, 'grid.png')} and ${a.n} PNGs in ${path.join(out, 'images')} (${seconds.toFixed(1)} s)`);
  return { dir: out, seconds };
}
