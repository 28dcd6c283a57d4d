/**
 * [unit 9: the two-stage generator] Area-averaged datasets, the small-to-large decoder of
 * src/upsample/ (its loss against a loop, its gradients, that it learns to beat copying),
 * train-upsampler's exact resume, `train --image-size`, the two-stage sampler against the
 * closed form of an upsampler that only copies, and the mix-ups of checkpoints.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { assertGradCheck, randn, tensor, Generator } from '../src';
import { downsampleDataset, downsampleImages } from '../src/data/dataset';
import { Adam } from '../src/optim/adam';
import { readSafetensors, saveSafetensors } from '../src/checkpoint/safetensors';
import { readTrainingCheckpointInfo } from '../src/checkpoint/training';
import { readImagePng } from '../src/image/png';
import { main } from '../src/cli/main';
import type { UNetConfig } from '../src/nn/unet';
import { train, type TrainConfig } from '../src/train/trainer';
import { Upsampler, upsamplerLoss } from '../src/upsample/model';
import { loadUpsampler, trainUpsampler, upsampleImages, upsamplerHeldOutMse } from '../src/upsample/train';
import { trainAutoencoder } from '../src/vae/train';
import { expectExactResume, quietly, shapes, tmpDir } from './helpers/small-runs';

const tmp = () => tmpDir('upsampler');
// a UNet for 8x8 images (the upsampler's large size) and for 4x4 ones (the first stage)
const TINY: UNetConfig = { inChannels: 1, baseChannels: 8, channelMults: [1, 2], numResBlocks: 1, attnLevels: [], midAttention: true, timeFeatures: 8, timeDim: 16, groups: 4 };

/** 2x2 means by hand, in float64, of images [n, 1, h, w]. */
function pool2(x: Float32Array, n: number, h: number, w: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h / 2; y++)
      for (let xx = 0; xx < w / 2; xx++) {
        const at = (dy: number, dx: number) => x[i * h * w + (2 * y + dy) * w + 2 * xx + dx];
        out.push((at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4);
      }
  return out;
}

describe('[unit 9: the two-stage generator] downsampling and the upsampler', () => {
  it('downsampleImages averages f x f blocks (a 4x4 by hand, and f = 1 is the identity); downsampleDataset names a size that does not divide', () => {
    const x = Float32Array.from({ length: 16 }, (_, i) => i); // rows 0-3, 4-7, 8-11, 12-15
    expect(Array.from(downsampleImages(x, 1, 1, 4, 4, 2))).to.deep.equal([2.5, 4.5, 10.5, 12.5]);
    expect(Array.from(downsampleImages(x, 1, 1, 4, 4, 4))).to.deep.equal([7.5]);
    expect(Array.from(downsampleImages(x, 1, 1, 4, 4, 1))).to.deep.equal(Array.from(x));
    const ds = shapes();
    const small = downsampleDataset(ds, 4);
    expect([small.n, small.channels, small.height, small.width]).to.deep.equal([32, 1, 4, 4]);
    pool2(ds.images, ds.n, 8, 8).forEach((v, i) => expect(small.images[i]).to.be.closeTo(v, 1e-7));
    expect(Array.from(small.labels)).to.deep.equal(Array.from(ds.labels));
    expect(() => downsampleDataset(ds, 3)).to.throw(/its images are 8x8; they can be made 3x3 only when they are square and 3 divides 8/);
  });

  it('the loss is the mean of (upsampler(2x2 means of x) - x)^2, and the output is the copied input plus the UNet at t = 0', () => {
    const up = new Upsampler({ smallSize: 4, unet: TINY }, { generator: new Generator(1) });
    const x = randn([3, 1, 8, 8], { generator: new Generator(2) }).clamp(-1, 1);
    const xs = x.toArray();
    const small = pool2(xs, 3, 8, 8);
    const out = up.forward(tensor(Float32Array.from(small), [3, 1, 4, 4])).toArray();
    const unet = up.unet.forward(tensor(Float32Array.from({ length: 3 * 64 }, (_, i) => small[Math.floor(i / 64) * 16 + Math.floor((i % 64) / 16) * 4 + Math.floor((i % 8) / 2)]), [3, 1, 8, 8]), [0, 0, 0]).toArray();
    for (let i = 0; i < out.length; i++) {
      const copied = small[Math.floor(i / 64) * 16 + Math.floor((i % 64) / 16) * 4 + Math.floor((i % 8) / 2)];
      expect(out[i]).to.be.closeTo(copied + unet[i], 1e-5);
    }
    const expected = out.reduce((s, v, i) => s + (v - xs[i]) ** 2, 0) / out.length;
    const r = upsamplerLoss(up, x);
    expect(r.mse).to.be.closeTo(expected, 1e-5 * expected);
    expect(() => up.forward(randn([1, 1, 8, 8]))).to.throw(/Upsampler: input must be \[B, 1, 4, 4\], got \[1,1,8,8\]/);
  });

  it('gradients through the copy and the UNet pass gradCheck', () => {
    const up = new Upsampler({ smallSize: 2, unet: { ...TINY, channelMults: [1] } }, { generator: new Generator(3) });
    const r = assertGradCheck((s) => up.forward(s).square().sum(), [randn([1, 1, 2, 2], { generator: new Generator(4) })]);
    expect(r.ok).to.equal(true);
  });

  it('on a fixed batch the loss falls under Adam to below the error of copying each pixel into a 2x2 block', () => {
    const up = new Upsampler({ smallSize: 4, unet: TINY }, { generator: new Generator(5) });
    const ds = shapes();
    const x = tensor(Float32Array.from(ds.images.subarray(0, 6 * 64), (v) => v * 2 - 1), [6, 1, 8, 8]);
    const xs = x.toArray();
    const small = pool2(xs, 6, 8, 8);
    let copyMse = 0;
    for (let i = 0; i < xs.length; i++) copyMse += (small[Math.floor(i / 64) * 16 + Math.floor((i % 64) / 16) * 4 + Math.floor((i % 8) / 2)] - xs[i]) ** 2;
    copyMse /= xs.length;
    const opt = new Adam(up.namedParameters(), { lr: 5e-3 });
    const losses: number[] = [];
    for (let i = 0; i < 50; i++) {
      opt.zeroGrad();
      const r = upsamplerLoss(up, x);
      losses.push(r.mse);
      r.loss.backward();
      opt.step();
    }
    expect(losses[49]).to.be.below(0.5 * losses[0]);
    expect(losses[49]).to.be.below(0.5 * copyMse);
  });
});

describe('[unit 9: the two-stage generator] train-upsampler, train --image-size, sample --upsampler', function () {
  this.timeout(180000);
  const base = { dataset: shapes(), model: TINY, steps: 6, batchSize: 8, warmup: 2, checkpointEvery: 2, logEvery: 100, seed: 3 };
  const stage1 = { model: TINY, dataset: shapes(), imageSize: 4, batchSize: 4, steps: 2, warmup: 0, checkpointEvery: 2, sampleEvery: 0, numSamples: 4, sampleSteps: 2, timesteps: 20, condition: 'none' as const };

  it('resumes exactly: 6 steps straight equal 3 + 3 across a stop, bit for bit; writes the loss log, its plot and upsampled.png', async () => {
    const { split } = await expectExactResume((over, hooks) => trainUpsampler({ ...base, ...over }, hooks), 3, /^(model|optim)\./, 'upsampler');
    const rows = fs.readFileSync(path.join(split, 'loss.csv'), 'utf8').trim().split('\n');
    expect(rows[0]).to.equal('step,mse,lr,elapsed_s');
    expect(rows.slice(1).map((r) => Number(r.split(',')[0]))).to.deep.equal([1, 2, 3, 4, 5, 6]);
    // warmup 2 steps to 1e-3, then a cosine to 0 at step 6
    const lrs = rows.slice(1).map((r) => Number(r.split(',')[2]));
    [5e-4, 1e-3, 1e-3, 1e-3 * (1 + Math.cos(Math.PI / 4)) / 2, 1e-3 * (1 + Math.cos(Math.PI / 2)) / 2, 1e-3 * (1 + Math.cos((3 * Math.PI) / 4)) / 2].forEach((v, i) => expect(lrs[i]).to.be.closeTo(v, 1e-12));
    for (const f of ['upsampled.png', 'loss.png']) expect(fs.existsSync(path.join(split, f)), f).to.equal(true);
    const pic = readImagePng(path.join(split, 'upsampled.png'));
    expect([pic.h, pic.w]).to.deep.equal([3 * (8 + 2) + 2, 2 * (8 + 2) + 2]); // 3 rows of the 2 classes' first digits
    const { model } = loadUpsampler(path.join(split, 'checkpoint.safetensors'));
    expect([model.config.smallSize, model.largeSize]).to.deep.equal([4, 8]);
    // the held-out numbers against loops
    const ds = shapes();
    const r = upsamplerHeldOutMse(model, ds);
    const large = Float32Array.from(ds.images, (v) => v * 2 - 1);
    const small = pool2(large, ds.n, 8, 8);
    const ours = upsampleImages(model, Float32Array.from(small), ds.n);
    let mse = 0;
    let copy = 0;
    for (let i = 0; i < large.length; i++) {
      mse += (ours[i] - large[i]) ** 2;
      copy += (small[Math.floor(i / 64) * 16 + Math.floor((i % 64) / 16) * 4 + Math.floor((i % 8) / 2)] - large[i]) ** 2;
    }
    expect(r.mse).to.be.closeTo(mse / large.length, 1e-6);
    expect(r.copyMse).to.be.closeTo(copy / large.length, 1e-6);
  });

  it('train --image-size trains on the 2x2 means (imageShape in the checkpoint); resuming at another size, or with --latent or --eval-every, is one clear error', async () => {
    const out = tmp();
    await quietly(() => train({ ...stage1, outDir: out }));
    const ckpt = path.join(out, 'checkpoint.safetensors');
    const cfg = readTrainingCheckpointInfo(ckpt).config as { imageShape: number[]; imageSize: number };
    expect(cfg.imageShape).to.deep.equal([1, 4, 4]);
    expect(cfg.imageSize).to.equal(4);
    const samples = readImagePng(path.join(out, 'samples.png'));
    expect([samples.h, samples.w]).to.deep.equal([2 * (4 + 2) + 2, 2 * (4 + 2) + 2]);
    for (const [over, pattern] of [
      [{ outDir: out, steps: 4, resume: true, imageSize: 0 }, /train: --resume: '.*' was trained with --image-size 4, but this run asks for --image-size 0; pass --image-size 4 to continue it/],
      [{ outDir: tmp(), latent: ckpt }, /train: --image-size and --latent do not go together/],
      [{ outDir: tmp(), evalEvery: 2 }, /train: --eval-every scores full-size samples against the real images; a run at --image-size 4 is scored through its upsampler/],
      [{ outDir: tmp(), imageSize: 3 }, /its images are 8x8; they can be made 3x3 only when they are square and 3 divides 8/],
    ] as [Partial<TrainConfig>, RegExp][]) {
      let err: Error | null = null;
      try {
        await quietly(() => train({ ...stage1, ...over }));
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).to.match(pattern);
    }
  });

  it('sample --upsampler: with the UNet\'s last conv zeroed the upsampler copies, so the two-stage images are the first stage\'s with every pixel in a 2x2 block, byte for byte', async () => {
    const s1 = tmp();
    await quietly(() => train({ ...stage1, outDir: s1 }));
    const up = tmp();
    await quietly(() => trainUpsampler({ ...base, steps: 2, outDir: up }));
    const upFile = path.join(up, 'checkpoint.safetensors');
    const file = readSafetensors(upFile);
    const zeroed = Object.fromEntries(Object.entries(file.tensors).map(([n, t]) => [n, /^model\.unet\.out_conv\./.test(n) ? { shape: t.shape, data: new Float32Array(t.data.length) } : t]));
    const copier = path.join(up, 'copier.safetensors');
    saveSafetensors(copier, zeroed, file.metadata);
    const ck = path.join(s1, 'checkpoint.safetensors');
    const one = path.join(s1, 'one');
    const two = path.join(s1, 'two');
    const common = ['--checkpoint', ck, '--n', '3', '--steps', '2', '--backend', 'ref', '--workers', '1'];
    let r = await quietly(() => main(['sample', ...common, '--out', one]));
    expect(r.value, r.err).to.equal(0);
    r = await quietly(() => main(['sample', ...common, '--upsampler', copier, '--out', two]));
    expect(r.value, r.err).to.equal(0);
    for (let i = 0; i < 3; i++) {
      const name = `sample_${String(i).padStart(5, '0')}.png`;
      const small = readImagePng(path.join(one, 'images', name));
      const large = readImagePng(path.join(two, 'images', name));
      expect([small.h, large.h]).to.deep.equal([4, 8]);
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) expect(large.data[y * 8 + x], `${name} ${y},${x}`).to.equal(small.data[Math.floor(y / 2) * 4 + Math.floor(x / 2)]);
    }
    for (const f of ['grid.png', 'reverse_process.png', 'stages.png']) expect(fs.existsSync(path.join(two, f)), f).to.equal(true);
    // a trained upsampler gives other pixels than copying
    const three = path.join(s1, 'three');
    r = await quietly(() => main(['sample', ...common, '--upsampler', upFile, '--out', three]));
    expect(r.value, r.err).to.equal(0);
    expect(readImagePng(path.join(three, 'images', 'sample_00000.png')).data).to.not.deep.equal(readImagePng(path.join(two, 'images', 'sample_00000.png')).data);
    // a class-conditional first stage with a list of guidance scales: guidance_grid.png is of the enlarged 8x8 images
    const cls = tmp();
    await quietly(() => train({ ...stage1, condition: 'class', outDir: cls }));
    const four = path.join(cls, 'four');
    r = await quietly(() => main(['sample', '--checkpoint', path.join(cls, 'checkpoint.safetensors'), '--n', '4', '--steps', '2', '--backend', 'ref', '--workers', '1', '--guidance', '0,2', '--upsampler', copier, '--out', four]));
    expect(r.value, r.err).to.equal(0);
    const grid = readImagePng(path.join(four, 'guidance_grid.png'));
    expect([grid.h, grid.w]).to.deep.equal([2 * (8 + 2) + 2, 5 * (8 + 2) + 2]); // 2 classes; 2 scales x 2 images and a separator
  });

  it('mix-ups are one line each naming both sides, exit 2, nothing written', async () => {
    const up = tmp();
    await quietly(() => trainUpsampler({ ...base, steps: 1, outDir: up }));
    const upFile = path.join(up, 'checkpoint.safetensors');
    const full = tmp();
    await quietly(() => train({ ...stage1, imageSize: 0, outDir: full, steps: 1 }));
    const fullFile = path.join(full, 'checkpoint.safetensors');
    const ae = tmp();
    await quietly(() => trainAutoencoder({ dataset: shapes(), steps: 1, batchSize: 8, logEvery: 100, latentChannels: 2, channels: [8, 8], outDir: ae }));
    const aeFile = path.join(ae, 'checkpoint.safetensors');
    const never = path.join(up, 'never');
    for (const [args, pattern] of [
      [['sample', '--checkpoint', fullFile, '--upsampler', upFile], /sample: --upsampler: '.*' enlarges 1x4x4 images, but '.*' draws 1x8x8/],
      [['sample', '--checkpoint', upFile], /sample: '.*' is an upsampler checkpoint \(tiny-ddpm train-upsampler\), not a diffusion run; give it as --upsampler/],
      [['sample', '--checkpoint', fullFile, '--upsampler', aeFile], /sample: --upsampler: '.*' is not an upsampler checkpoint \(it was not written by tiny-ddpm train-upsampler; it is an autoencoder\)/],
      [['sample', '--vae', aeFile, '--upsampler', upFile], /sample: --upsampler enlarges the samples of a diffusion --checkpoint, not those of --vae/],
      [['sample', '--upsampler', upFile], /sample: --upsampler needs --checkpoint/],
      [['sample', '--checkpoint', fullFile, '--upsampler', 'nope.safetensors'], /sample: --upsampler: no file 'nope.safetensors'/],
      [['train-upsampler', '--noise-aug', '-1'], /train-upsampler: --noise-aug must be a finite number >= 0, got -1/],
      [['train-upsampler', '--model', 'unet-9'], /train-upsampler: unknown --model 'unet-9'/],
      [['train-upsampler', '--resume', aeFile], /train-upsampler: --resume: '.*' is not an upsampler checkpoint \(an autoencoder continues with tiny-ddpm train-ae --resume\)/],
      [['train-ae', '--resume', upFile], /train-ae: --resume: '.*' is not an autoencoder checkpoint \(an upsampler continues with tiny-ddpm train-upsampler --resume\)/],
      [['train', '--resume', upFile], /train: --resume: '.*' is an upsampler checkpoint \(tiny-ddpm train-upsampler\), not a diffusion run; continue it with tiny-ddpm train-upsampler --resume/],
    ] as [string[], RegExp][]) {
      const before = fs.readFileSync(upFile);
      const r = await quietly(() => main([...args, '--backend', 'ref', '--out', never]));
      expect(r.value, args.join(' ')).to.equal(2);
      expect(r.err).to.match(pattern);
      expect(r.err.trim().split('\n').filter((l) => !l.startsWith('backend:')), args.join(' ')).to.have.length(1);
      expect(fs.existsSync(never), args.join(' ')).to.equal(false);
      expect(fs.readFileSync(upFile).equals(before)).to.equal(true);
    }
  });
});
