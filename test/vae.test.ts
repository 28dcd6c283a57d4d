/**
 * [unit 9: autoencoder] The VAE of src/vae/: shapes, the KL term against its closed form and a
 * Monte-Carlo estimate, the reparameterization's gradients, a loss that falls, a training run
 * that resumes exactly, and the mix-ups between autoencoder and diffusion checkpoints.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { assertGradCheck, randn, tensor, Generator } from '../src';
import { Adam } from '../src/optim/adam';
import { readSafetensors } from '../src/checkpoint/safetensors';
import { Autoencoder, DEFAULT_AUTOENCODER_CONFIG, klDivergence, vaeLoss, type AutoencoderConfig } from '../src/vae/model';
import { loadAutoencoder, trainAutoencoder } from '../src/vae/train';
import { buildRun, DEFAULT_TRAIN_CONFIG, train, type TrainConfig } from '../src/train/trainer';
import { encodeImages, latentScale, type LatentInfo } from '../src/vae/latent';
import { readTrainingCheckpointInfo } from '../src/checkpoint/training';
import { readImagePng } from '../src/image/png';
import { main } from '../src/cli/main';
import type { UNetConfig } from '../src/nn/unet';
import { expectExactResume, quietly, shapes, tmpDir } from './helpers/small-runs';

const tmp = () => tmpDir('vae');
const SMALL: AutoencoderConfig = { inChannels: 1, imageSize: 8, channels: [8, 8], latentChannels: 2, groups: 4 };

describe('[unit 9: autoencoder] the model', () => {
  it('encodes 1x28x28 to a mean and a log-variance of 4x7x7 and decodes back; wrong shapes are named', () => {
    const ae = new Autoencoder(DEFAULT_AUTOENCODER_CONFIG, { generator: new Generator(1) });
    expect(ae.latentShape).to.deep.equal([4, 7, 7]);
    const e = ae.encode(randn([2, 1, 28, 28]));
    expect(e.mean.shape).to.deep.equal([2, 4, 7, 7]);
    expect(e.logvar.shape).to.deep.equal([2, 4, 7, 7]);
    expect(ae.decode(e.mean).shape).to.deep.equal([2, 1, 28, 28]);
    expect(() => ae.encode(randn([2, 1, 14, 14]))).to.throw('Autoencoder.encode: images must be [B, 1, 28, 28], got [2,1,14,14]');
    expect(() => ae.decode(randn([2, 3, 7, 7]))).to.throw('Autoencoder.decode: latents must be [B, 4, 7, 7], got [2,3,7,7]');
    expect(() => new Autoencoder({ ...SMALL, imageSize: 10 })).to.throw(/imageSize must be divisible by 4/);
  });

  it('the KL term is 1/2 sum (mean^2 + var - 1 - log var) per image, and a Monte-Carlo estimate of E_q[log q - log p] agrees', () => {
    const means = [0.5, -1.2, 0, 2];
    const logvars = [0, -1, 0.7, -2.5];
    const e = { mean: tensor([...means, ...means.map((m) => -m)], [2, 1, 2, 2]), logvar: tensor([...logvars, ...logvars], [2, 1, 2, 2]) };
    const kl = klDivergence(e).toArray();
    const closed = means.reduce((s, m, i) => s + 0.5 * (m * m + Math.exp(logvars[i]) - 1 - logvars[i]), 0);
    expect(kl[0]).to.be.closeTo(closed, 1e-5);
    expect(kl[1]).to.be.closeTo(closed, 1e-5); // the sign of the mean does not matter
    // Monte Carlo: z ~ N(m, s^2), log q(z) - log p(z) = -log s - (z - m)^2 / (2 s^2) + z^2 / 2
    const g = new Generator(3);
    const draws = 200000;
    let mc = 0;
    means.forEach((m, i) => {
      const s = Math.exp(logvars[i] / 2);
      let sum = 0;
      for (let k = 0; k < draws; k++) {
        const z = m + s * g.normal();
        sum += -Math.log(s) - ((z - m) * (z - m)) / (2 * s * s) + (z * z) / 2;
      }
      mc += sum / draws;
    });
    expect(mc).to.be.closeTo(closed, 0.02 * closed);
  });

  it('z = mean + exp(logvar / 2) eps: gradients through the reparameterization pass gradCheck', () => {
    const r = assertGradCheck((m, lv) => Autoencoder.reparameterize({ mean: m, logvar: lv }, new Generator(9)).square().sum(), [
      randn([1, 2, 2, 2], { generator: new Generator(1) }),
      randn([1, 2, 2, 2], { generator: new Generator(2) }).mul(0.5),
    ]);
    expect(r.ok).to.equal(true);
  });

  it('the loss on a fixed batch falls under Adam (reconstruction and KL both reported)', () => {
    const ae = new Autoencoder(SMALL, { generator: new Generator(4) });
    const ds = shapes();
    const x = tensor(Float32Array.from(ds.images.subarray(0, 8 * 64), (v) => v * 2 - 1), [8, 1, 8, 8]);
    const opt = new Adam(ae.namedParameters(), { lr: 1e-2 });
    const losses: number[] = [];
    for (let i = 0; i < 60; i++) {
      opt.zeroGrad();
      const r = vaeLoss(ae, x, 0.1, new Generator(100 + i));
      expect(r.reconstruction).to.be.above(0);
      expect(r.kl).to.be.at.least(0);
      losses.push(r.loss.item());
      r.loss.backward();
      opt.step();
    }
    expect(losses[59]).to.be.below(0.5 * losses[0]);
  });
});

describe('[unit 9: autoencoder] train-ae', function () {
  this.timeout(120000);
  const base = { dataset: shapes(), steps: 6, batchSize: 8, checkpointEvery: 2, logEvery: 100, latentChannels: 2, channels: [8, 8] as [number, number], seed: 3 };

  it('resumes exactly: 6 steps straight equal 3 + 3 across a stop, bit for bit; writes the loss log and the three pictures', async () => {
    const { split } = await expectExactResume((over, hooks) => trainAutoencoder({ ...base, ...over }, hooks), 3, /^(model|optim)\./, 'vae');
    const rows = fs.readFileSync(path.join(split, 'loss.csv'), 'utf8').trim().split('\n');
    expect(rows[0]).to.equal('step,loss,reconstruction,kl,elapsed_s');
    expect(rows.slice(1).map((r) => Number(r.split(',')[0]))).to.deep.equal([1, 2, 3, 4, 5, 6]);
    for (const f of ['reconstructions.png', 'interpolation.png', 'prior_samples.png', 'loss.png']) expect(fs.existsSync(path.join(split, f)), f).to.equal(true);
    const { model } = loadAutoencoder(path.join(split, 'checkpoint.safetensors'));
    expect(model.latentShape).to.deep.equal([2, 2, 2]);
  });

  it('sample --vae decodes the prior into grid.png and images/ (what eval scores); mix-ups of checkpoints are one line each, nothing written', async () => {
    const out = tmp();
    await quietly(() => trainAutoencoder({ ...base, steps: 2, outDir: out }));
    const ae = path.join(out, 'checkpoint.safetensors');
    const dir = path.join(out, 'prior');
    const ok = await quietly(() => main(['sample', '--vae', ae, '--n', '5', '--backend', 'ref', '--out', dir]));
    expect(ok.value, ok.err).to.equal(0);
    expect(fs.readdirSync(path.join(dir, 'images')).length).to.equal(5);
    expect(fs.existsSync(path.join(dir, 'grid.png'))).to.equal(true);
    const never = path.join(out, 'never');
    for (const [args, pattern] of [
      [['sample', '--checkpoint', ae, '--backend', 'ref', '--out', never], /sample: '.*' is an autoencoder checkpoint \(tiny-ddpm train-ae\), not a diffusion run; sample its prior with --vae/],
      [['sample', '--vae', 'README.md', '--backend', 'ref', '--out', never], /sample: --vae: 'README.md' is not a training checkpoint/],
      [['sample', '--vae', ae, '--class', '3', '--backend', 'ref', '--out', never], /sample: --class steers a diffusion checkpoint/],
      [['sample', '--vae', ae, '--checkpoint', ae, '--out', never], /give --checkpoint \(a diffusion run\) or --vae \(an autoencoder\), not both/],
      [['train-ae', '--beta', '-1', '--out', never], /train-ae: --beta must be a finite number >= 0, got -1/],
    ] as [string[], RegExp][]) {
      const r = await quietly(() => main(args));
      expect(r.value, args.join(' ')).to.equal(2);
      expect(r.err).to.match(pattern);
      expect(r.err.trim().split('\n').filter((l) => !l.startsWith('backend:'))).to.have.length(1);
      expect(fs.existsSync(never)).to.equal(false);
    }
    // a diffusion run resumed from the autoencoder, and the reverse
    const tiny: UNetConfig = { inChannels: 1, baseChannels: 8, channelMults: [1, 2], numResBlocks: 1, attnLevels: [], midAttention: true, timeFeatures: 8, timeDim: 16, groups: 4 };
    const run = tmp();
    let err: Error | null = null;
    try {
      await quietly(() => train({ model: tiny, dataset: shapes(), batchSize: 4, steps: 2, outDir: run, resume: ae, timesteps: 20, numSamples: 2, sampleSteps: 2 }));
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/train: --resume: '.*' is an autoencoder checkpoint \(tiny-ddpm train-ae\), not a diffusion run; continue it with tiny-ddpm train-ae --resume/);
    await quietly(() => train({ model: tiny, dataset: shapes(), batchSize: 4, steps: 1, outDir: run, timesteps: 20, numSamples: 2, sampleSteps: 2 }));
    err = null;
    try {
      await quietly(() => trainAutoencoder({ ...base, outDir: tmp(), resume: path.join(run, 'checkpoint.safetensors') }));
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/train-ae: --resume: '.*' is not an autoencoder checkpoint \(a diffusion run continues with tiny-ddpm train --resume\)/);
  });
});

describe('[unit 9: autoencoder] latent diffusion (train --latent)', function () {
  this.timeout(180000);
  const ONE_LEVEL: UNetConfig = { inChannels: 2, baseChannels: 8, channelMults: [1], numResBlocks: 1, attnLevels: [], midAttention: true, timeFeatures: 8, timeDim: 16, groups: 4 };
  const run = { model: ONE_LEVEL, batchSize: 4, steps: 4, warmup: 0, checkpointEvery: 2, sampleEvery: 0, numSamples: 4, sampleSteps: 2, timesteps: 20, condition: 'class' as const };
  let ae = '';
  before(async () => {
    const out = tmp();
    await quietly(() => trainAutoencoder({ dataset: shapes(), steps: 3, batchSize: 8, logEvery: 100, latentChannels: 2, channels: [8, 8], seed: 5, outDir: out }));
    ae = path.join(out, 'checkpoint.safetensors');
  });

  it('the scale is 1 / the standard deviation of the encoded training set (a loop), stored with the autoencoder in the checkpoint', async () => {
    const { model } = loadAutoencoder(ae);
    const ds = shapes();
    const latents = encodeImages(model, ds);
    expect(latents.length).to.equal(ds.n * 2 * 2 * 2);
    // one image through encode() gives the same mean
    const first = model.encode(tensor(Float32Array.from(ds.images.subarray(0, 64), (v) => v * 2 - 1), [1, 1, 8, 8])).mean.toArray();
    Array.from(first).forEach((v, i) => expect(latents[i]).to.be.closeTo(v, 1e-6));
    const m = latents.reduce((s, v) => s + v, 0) / latents.length;
    const std = Math.sqrt(latents.reduce((s, v) => s + (v - m) ** 2, 0) / latents.length);
    expect(latentScale(latents)).to.be.closeTo(1 / std, 1e-9 / std);
    const out = tmp();
    await quietly(() => train({ ...run, dataset: shapes(), outDir: out, latent: ae }));
    const ckpt = path.join(out, 'checkpoint.safetensors');
    const info = (readTrainingCheckpointInfo(ckpt).config as { latent: LatentInfo; imageShape: number[] });
    expect(info.latent.scale).to.be.closeTo(1 / std, 1e-9 / std);
    expect(info.latent.latentShape).to.deep.equal([2, 2, 2]);
    expect(info.latent.imageShape).to.deep.equal([1, 8, 8]);
    expect(info.imageShape).to.deep.equal([2, 2, 2]);
    const stored = readSafetensors(ckpt).tensors;
    const original = readSafetensors(ae).tensors;
    for (const n of Object.keys(original).filter((k) => k.startsWith('model.'))) {
      const key = `autoencoder.${n.slice('model.'.length)}`;
      expect(Buffer.from(stored[key].data.buffer).equals(Buffer.from(original[n].data.buffer)), key).to.equal(true);
    }
    // the sample grid is of decoded 8x8 images: 4 samples, one column per class (2), padding 2
    const grid = readImagePng(path.join(out, 'samples.png'));
    expect([grid.h, grid.w]).to.deep.equal([2 * (8 + 2) + 2, 2 * (8 + 2) + 2]);
  });

  it('a latent run resumes exactly, bit for bit, like a pixel run; sample decodes its latents and shows both reverse processes', async () => {
    const straight = tmp();
    await quietly(() => train({ ...run, dataset: shapes(), outDir: straight, latent: ae }));
    const split = tmp();
    let calls = 0;
    await quietly(() => train({ ...run, dataset: shapes(), outDir: split, latent: ae }, { shouldStop: () => ++calls === 2 }));
    await quietly(() => train({ ...run, dataset: shapes(), outDir: split, latent: ae, resume: true }));
    const a = readSafetensors(path.join(straight, 'checkpoint.safetensors')).tensors;
    const b = readSafetensors(path.join(split, 'checkpoint.safetensors')).tensors;
    const names = Object.keys(a).filter((n) => /^(model|ema|optim|autoencoder)\./.test(n));
    for (const n of names) expect(Buffer.from(b[n].data.buffer).equals(Buffer.from(a[n].data.buffer)), n).to.equal(true);
    const dir = path.join(split, 's');
    const r = await quietly(() => main(['sample', '--checkpoint', path.join(split, 'checkpoint.safetensors'), '--n', '3', '--steps', '2', '--backend', 'ref', '--workers', '1', '--out', dir]));
    expect(r.value, r.err).to.equal(0);
    const img = readImagePng(path.join(dir, 'images', 'sample_00000.png'));
    expect([img.h, img.w]).to.deep.equal([8, 8]); // decoded images, not 2x2 latents
    for (const f of ['grid.png', 'reverse_process.png', 'reverse_process_latents.png']) expect(fs.existsSync(path.join(dir, f)), f).to.equal(true);
  });

  it('with --latent, the default model and unet-tiny build unet-latent (450,564 parameters for 4x7x7 latents); without it, the preset named', () => {
    const latents = { name: 'latents', images: new Float32Array(2 * 4 * 49), labels: new Int32Array(2), n: 2, channels: 4, height: 7, width: 7, numClasses: 10 };
    for (const model of [DEFAULT_TRAIN_CONFIG.model, 'unet-tiny']) {
      const r = buildRun({ ...DEFAULT_TRAIN_CONFIG, model, latent: 'ae.safetensors', condition: 'none' }, latents);
      expect([r.modelName, r.model.numParameters()], String(model)).to.deep.equal(['unet-latent', 450564]);
    }
    const pixels = { ...latents, channels: 1, height: 28, width: 28, images: new Float32Array(2 * 784) };
    const mini = buildRun({ ...DEFAULT_TRAIN_CONFIG, condition: 'none' }, pixels);
    expect([mini.modelName, mini.model.numParameters()]).to.deep.equal(['unet-mini', 199729]);
  });

  it('mix-ups are one clear error naming both sides: pixels vs latents on resume, an autoencoder of another image size, a UNet that cannot halve the latents, a diffusion checkpoint as --latent', async () => {
    const pixelRun = tmp();
    const tinyPixels: UNetConfig = { ...ONE_LEVEL, inChannels: 1 };
    await quietly(() => train({ ...run, model: tinyPixels, dataset: shapes(), outDir: pixelRun, steps: 1 }));
    const latentRun = tmp();
    await quietly(() => train({ ...run, dataset: shapes(), outDir: latentRun, steps: 1, latent: ae }));
    const big = { ...shapes(), height: 12, width: 12, images: new Float32Array(32 * 144), name: 'big' };
    for (const [cfg, pattern] of [
      [{ ...run, model: tinyPixels, dataset: shapes(), outDir: pixelRun, steps: 2, resume: true, latent: ae }, /was trained on pixels, but this run asks for the latents of '.*'; drop --latent to continue it/],
      [{ ...run, dataset: shapes(), outDir: latentRun, steps: 2, resume: true, model: tinyPixels }, /was trained on the latents of '.*', but this run asks for pixels; pass --latent .* to continue it/],
      [{ ...run, dataset: big, outDir: tmp(), latent: ae }, /train: --latent: the autoencoder '.*' takes 1x8x8 images, but big has 1x12x12/],
      [{ ...run, model: { ...ONE_LEVEL, channelMults: [1, 2, 2] }, dataset: shapes(), outDir: tmp(), latent: ae }, /train: --model custom halves its input 2 times, so the latents must be a multiple of 4 on each side, but they are 2x2 \(leave --model out: a latent run uses unet-latent\)/],
      [{ ...run, dataset: shapes(), outDir: tmp(), latent: path.join(pixelRun, 'checkpoint.safetensors') }, /train: --latent: '.*' is not an autoencoder checkpoint \(train one with tiny-ddpm train-ae\)/],
    ] as [Partial<TrainConfig>, RegExp][]) {
      const before = cfg.resume ? fs.readFileSync(path.join(cfg.outDir!, 'checkpoint.safetensors')) : null;
      let err: Error | null = null;
      try {
        await quietly(() => train(cfg));
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).to.match(pattern);
      if (before) expect(fs.readFileSync(path.join(cfg.outDir!, 'checkpoint.safetensors')).equals(before)).to.equal(true);
      else expect(fs.existsSync(path.join(cfg.outDir!, 'checkpoint.safetensors'))).to.equal(false);
    }
  });
});
