#!/usr/bin/env node
/**
 * The tiny-ddpm command line:
 *   tiny-ddpm train    train a DDPM (default: class-conditional unet-mini on the bundled MNIST digits)
 *   tiny-ddpm train-ae train the autoencoder (a VAE) of latent diffusion, and its own samples' baseline
 *   tiny-ddpm train-upsampler  train the 14x14 -> 28x28 decoder of the two-stage generator
 *   tiny-ddpm sample   draw images from a checkpoint with DDPM or DDIM (or an autoencoder's prior with --vae; two stages with --upsampler)
 *   tiny-ddpm noise    picture the forward process on one real image
 *   tiny-ddpm eval     score a folder of samples: FID, its real-vs-real floor, recognized share, class coverage
 *   tiny-ddpm classifier  train the small CNN that eval measures with
 *   tiny-ddpm clip     train the CLIP-style model that clip-score measures with
 *   tiny-ddpm clip-score  score images against prompts: mean cosine, next to shuffled prompts
 * Every argument is checked; a bad one gets one clear line and exit code 2, not a stack trace.
 */
import * as fs from 'fs';
import * as path from 'path';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { Backend } from '../backend/backend';
import { setBackend } from '../backend/registry';
import { resolveBackend } from '../backend/select';
import { DEFAULT_TRAIN_CONFIG, LATENT_STAND_INS, SAMPLER_KINDS, train, validateTrainConfig, type TrainConfig } from '../train/trainer';
import { CONDITION_KINDS, TEXT_ENCODER_STARTS } from '../train/condition';
import { sampleCommand, noiseCommand, type SampleArgs } from './commands';
import { evalCommand, classifierCommand } from './eval';
import { clipCommand, clipScoreCommand } from './clip';
import { vaeSampleCommand } from './vae';
import { DEFAULT_TRAIN_AE_CONFIG, trainAutoencoder, validateTrainAeConfig, type TrainAutoencoderConfig } from '../vae/train';
import { DEFAULT_TRAIN_UPSAMPLER_CONFIG, trainUpsampler, validateTrainUpsamplerConfig, type TrainUpsamplerConfig } from '../upsample/train';
import { relaunchWithSingleThreadedGc } from './relaunch';
import { UNET_PRESETS } from '../nn/unet';
import { DATASET_SPEC_FORMS, DatasetError } from '../data';
import { autoWorkers } from '../train/parallel';
import { shippedAssetPath } from '../classifier/weights';
import { exportSamplingCheckpoint } from '../checkpoint/training';

/** An error meant for the user: printed as one line, without a stack trace. */
export class UsageError extends Error {}

const d = DEFAULT_TRAIN_CONFIG;

function backendOption(y: Argv) {
  return y.option('backend', {
    type: 'string',
    default: 'auto',
    describe: 'ref | gpujs (= gpujs:webasm) | gpujs:webasm | gpujs:gpu | gpujs:cpu | auto (the fastest that works here)',
  });
}

function useBackend(spec: string, log: (s: string) => void): Backend {
  const { backend, reason } = resolveBackend(spec);
  setBackend(backend);
  log(`backend: ${backend.name} (${reason})`);
  return backend;
}

export function buildCli(argv: string[], log: (s: string) => void = (s) => process.stderr.write(s + '\n')) {
  return yargs(argv)
    .scriptName('tiny-ddpm')
    .usage('$0 <command> [options]\n\nA DDPM that learns to draw digits, on a tensor library written from scratch.')
    .command(
      'train',
      'Train a DDPM (Ho et al. 2020) and write checkpoints, sample grids and the loss curve',
      (y) =>
        backendOption(y)
          .option('dataset', { type: 'string', default: 'mnist', describe: `dataset: ${DATASET_SPEC_FORMS.join(' | ')}` })
          .option('limit', { type: 'number', default: d.limit, describe: 'use only the first N training images (0 = all)' })
          .option('model', { type: 'string', default: d.model as string, describe: `UNet preset: ${Object.keys(UNET_PRESETS).join(', ')} (with --latent, ${LATENT_STAND_INS.join(' and ')} mean unet-latent)` })
          .option('latent', { type: 'string', describe: 'diffuse in the latent space of this autoencoder (a train-ae checkpoint): the images are encoded once, scaled to unit variance, and sampled latents are decoded by it (it is stored in the checkpoint)' })
          .option('image-size', { type: 'number', default: d.imageSize, describe: 'train on the images area-averaged to this size (0 = their own size): 14 with --model unet-14 is the first stage of the two-stage generator, whose samples train-upsampler\'s model enlarges to 28x28 (sample --upsampler)' })
          .option('steps', { type: 'number', default: d.steps, describe: 'total optimizer steps' })
          .option('batch-size', { type: 'number', default: d.batchSize })
          .option('lr', { type: 'number', default: d.lr, describe: 'peak learning rate (Adam)' })
          .option('warmup', { type: 'number', default: d.warmup, describe: 'learning-rate warmup steps' })
          .option('lr-decay', { type: 'string', choices: ['cosine', 'constant'], default: d.lrDecay, describe: 'after the warmup: decay lr to 0 by the last step along a cosine, or keep it constant (Ho et al.)' })
          .option('prediction', { type: 'string', choices: ['v', 'eps', 'x0'], default: d.prediction, describe: 'what the network predicts: v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans & Ho 2022), the noise eps (Ho et al. 2020), or x0' })
          .option('loss-weighting', { type: 'string', choices: ['min-snr', 'none'], default: d.lossWeighting, describe: 'weight each timestep\'s loss by min-SNR-gamma (Hang et al. 2023) or not at all' })
          .option('snr-gamma', { type: 'number', default: d.snrGamma, describe: 'gamma of --loss-weighting min-snr' })
          .option('t-sampling', { type: 'string', choices: ['uniform', 'log-snr-normal'], default: d.timestepSampling, describe: 'where training draws t from: uniform over 0..T-1 (Ho et al. 2020), or ln SNR(t) ~ N(mean, std^2), which spends more images on the middle of the process (Karras et al. 2022: mean 2.4, std 2.4; Esser et al. 2024: mean 0, std 2)' })
          .option('t-log-snr-mean', { type: 'number', default: d.tLogSnrMean, describe: 'with --t-sampling log-snr-normal: the mean of ln SNR(t)' })
          .option('t-log-snr-std', { type: 'number', default: d.tLogSnrStd, describe: 'with --t-sampling log-snr-normal: the standard deviation of ln SNR(t)' })
          .option('condition', { type: 'string', choices: [...CONDITION_KINDS], default: d.condition, describe: 'class: the UNet is told each digit\'s class; text: a caption made from it ("seven", "a handwritten 7", ...), read through cross-attention by a text encoder (see --text-encoder); none: unconditional DDPM. class and text sample with classifier-free guidance' })
          .option('cond-dropout', { type: 'number', default: d.condDropout, describe: 'with --condition class or text: share of training images whose condition is replaced by the null one (the null class, the empty prompt)' })
          .option('guidance', { type: 'number', default: d.guidance, describe: 'with --condition class or text: guidance scale w of the sample grids (0 = unconditional, 1 = conditional, > 1 = guided)' })
          .option('text-encoder', { type: 'string', choices: [...TEXT_ENCODER_STARTS], default: d.textEncoder, describe: 'with --condition text: where the text encoder starts. clip: the text tower of the CLIP-style model (tiny-ddpm clip), kept frozen as Stable Diffusion keeps its CLIP text encoder; clip-tuned: the same, trained on with the UNet; scratch: random weights trained with the UNet' })
          .option('clip-model', { type: 'string', default: d.clipModel, describe: 'with --text-encoder clip or clip-tuned: the CLIP model file (default: assets/<dataset>-clip.safetensors)' })
          .option('text-dim', { type: 'number', default: d.textDim, describe: 'with --condition text --text-encoder scratch: width of the text encoder\'s token states (a CLIP tower brings its own)' })
          .option('text-layers', { type: 'number', default: d.textLayers, describe: 'with --condition text --text-encoder scratch: transformer blocks of the text encoder' })
          .option('text-heads', { type: 'number', default: d.textHeads, describe: 'with --condition text --text-encoder scratch: attention heads of each block' })
          .option('ema-decay', { type: 'number', default: d.emaDecay, describe: 'EMA decay of the sampling weights' })
          .option('grad-clip', { type: 'number', default: d.gradClip, describe: 'clip the gradient norm (0 = off)' })
          .option('seed', { type: 'number', default: d.seed })
          .option('timesteps', { type: 'number', default: d.timesteps, describe: 'diffusion steps T' })
          .option('beta-schedule', { type: 'string', choices: ['linear', 'cosine'], default: d.betaSchedule })
          .option('out', { type: 'string', default: d.outDir, describe: 'output folder' })
          .option('checkpoint-every', { type: 'number', default: d.checkpointEvery })
          .option('keep-every', { type: 'number', default: d.keepEvery, describe: 'every N steps also keep <out>/checkpoints/step_NNNNNN.safetensors, to sample or evaluate later (0 = off)' })
          .option('sample-every', { type: 'number', default: d.sampleEvery, describe: 'write a sample grid every N steps (0 = only at the end)' })
          .option('num-samples', { type: 'number', default: d.numSamples })
          .option('sampler', { type: 'string', choices: [...SAMPLER_KINDS], default: d.sampler, describe: 'sampler for the grids' })
          .option('sample-steps', { type: 'number', default: d.sampleSteps, describe: 'DDIM steps for the grids' })
          .option('workers', { type: 'string', default: 'auto', describe: 'threads that share each batch (data parallelism): a number, or auto = one per CPU core on the CPU backends, 1 on gpujs:gpu and ref. With 2 or more threads Node should run with --single-threaded-gc, which tiny-ddpm adds by restarting itself (TINY_DDPM_SINGLE_THREADED_GC=0 turns that off)' })
          .option('micro-batch', { type: 'number', default: d.microBatch, describe: 'images per forward/backward pass; each thread accumulates the gradients of its part of the batch over passes of this size (faster on CPUs)' })
          .option('log-every', { type: 'number', default: d.logEvery, describe: 'progress line every N steps (when not on a terminal)' })
          .option('eval-every', { type: 'number', default: d.evalEvery, describe: 'every N steps, score --eval-samples DDIM samples (FID, recognized, coverage) into <out>/eval.csv (0 = off)' })
          .option('eval-samples', { type: 'number', default: d.evalSamples, describe: 'samples per evaluation (and real images on each side)' })
          .option('eval-classifier', { type: 'string', default: d.evalClassifier, describe: 'classifier for --eval-every (default: assets/<dataset>-classifier.safetensors)' })
          .option('resume', { type: 'string', describe: 'continue from <out>/checkpoint.safetensors (no value) or from this file' }),
      async (a) => {
        const outDir = a.out as string;
        if (a.resume === undefined && fs.existsSync(path.join(outDir, 'checkpoint.safetensors'))) {
          throw new UsageError(`train: '${outDir}' already holds a checkpoint; pass --resume to continue it, or choose another --out`);
        }
        const config: Partial<TrainConfig> = {
          dataset: a.dataset as string, limit: a.limit as number, model: a.model as string, latent: (a.latent as string | undefined) ?? '', imageSize: a['image-size'] as number, steps: a.steps as number,
          batchSize: a['batch-size'] as number, lr: a.lr as number, warmup: a.warmup as number, emaDecay: a['ema-decay'] as number,
          lrDecay: a['lr-decay'] as TrainConfig['lrDecay'], prediction: a.prediction as TrainConfig['prediction'],
          lossWeighting: a['loss-weighting'] as TrainConfig['lossWeighting'], snrGamma: a['snr-gamma'] as number, timestepSampling: a['t-sampling'] as TrainConfig['timestepSampling'], tLogSnrMean: a['t-log-snr-mean'] as number, tLogSnrStd: a['t-log-snr-std'] as number,
          condition: a.condition as TrainConfig['condition'], condDropout: a['cond-dropout'] as number, guidance: a.guidance as number,
          textEncoder: a['text-encoder'] as TrainConfig['textEncoder'], clipModel: a['clip-model'] as string,
          textDim: a['text-dim'] as number, textLayers: a['text-layers'] as number, textHeads: a['text-heads'] as number,
          gradClip: a['grad-clip'] as number, seed: a.seed as number, timesteps: a.timesteps as number,
          betaSchedule: a['beta-schedule'] as TrainConfig['betaSchedule'], outDir, checkpointEvery: a['checkpoint-every'] as number,
          sampleEvery: a['sample-every'] as number, numSamples: a['num-samples'] as number, sampler: a.sampler as TrainConfig['sampler'],
          sampleSteps: a['sample-steps'] as number, logEvery: a['log-every'] as number, keepEvery: a['keep-every'] as number, microBatch: a['micro-batch'] as number,
          evalEvery: a['eval-every'] as number, evalSamples: a['eval-samples'] as number, evalClassifier: a['eval-classifier'] as string,
          resume: a.resume === undefined ? false : a.resume === '' ? true : (a.resume as string),
        };
        if (typeof config.model === 'string' && !UNET_PRESETS[config.model]) {
          throw new UsageError(`train: unknown --model '${config.model}'; valid presets: ${Object.keys(UNET_PRESETS).join(', ')}`);
        }
        const workersArg = String(a.workers);
        if (workersArg !== 'auto') config.workers = Number(workersArg);
        validateTrainConfig({ ...DEFAULT_TRAIN_CONFIG, ...config });
        const backend = useBackend(a.backend as string, log); // after the cheap checks: starting a backend can take a while
        if (workersArg === 'auto') config.workers = autoWorkers(backend.name, config.batchSize!);
        const r = await train(config);
        log(`${r.stopped === 'done' ? 'finished' : 'stopped'} at step ${r.step} in ${r.seconds.toFixed(0)} s; smoothed loss ${r.smoothedLoss.toFixed(4)}; checkpoint ${r.checkpoint}; samples ${path.join(r.outDir, 'samples.png')}`);
        if (r.stopped === 'nonfinite') process.exitCode = 1;
      },
    )
    .command(
      'train-ae',
      'Train the autoencoder (a VAE: the first part of Stable Diffusion, and a generator of its own) and write its checkpoint, reconstructions, a latent interpolation and prior samples',
      (y) =>
        backendOption(y)
          .option('dataset', { type: 'string', default: DEFAULT_TRAIN_AE_CONFIG.dataset as string, describe: 'mnist (bundled), fashion-mnist, mnist-idx:<dir>, ...' })
          .option('limit', { type: 'number', default: DEFAULT_TRAIN_AE_CONFIG.limit, describe: 'use only the first N training images (0 = all)' })
          .option('steps', { type: 'number', default: DEFAULT_TRAIN_AE_CONFIG.steps, describe: 'total optimizer steps' })
          .option('batch-size', { type: 'number', default: DEFAULT_TRAIN_AE_CONFIG.batchSize })
          .option('lr', { type: 'number', default: DEFAULT_TRAIN_AE_CONFIG.lr, describe: 'learning rate (Adam)' })
          .option('beta', { type: 'number', default: DEFAULT_TRAIN_AE_CONFIG.beta, describe: 'weight of the KL term: 1 is the ELBO of a Gaussian decoder of variance 1/2; smaller gives sharper reconstructions and a less Gaussian latent' })
          .option('latent-channels', { type: 'number', default: DEFAULT_TRAIN_AE_CONFIG.latentChannels, describe: 'channels of the latent, at a quarter of the image size (4 -> 4x7x7 for MNIST)' })
          .option('grad-clip', { type: 'number', default: DEFAULT_TRAIN_AE_CONFIG.gradClip, describe: 'clip the gradient norm (0 = off)' })
          .option('seed', { type: 'number', default: DEFAULT_TRAIN_AE_CONFIG.seed })
          .option('out', { type: 'string', default: DEFAULT_TRAIN_AE_CONFIG.outDir, describe: 'output folder' })
          .option('checkpoint-every', { type: 'number', default: DEFAULT_TRAIN_AE_CONFIG.checkpointEvery })
          .option('log-every', { type: 'number', default: DEFAULT_TRAIN_AE_CONFIG.logEvery, describe: 'progress line every N steps (when not on a terminal)' })
          .option('resume', { type: 'string', describe: 'continue from <out>/checkpoint.safetensors (no value) or from this file' }),
      async (a) => {
        const outDir = a.out as string;
        if (a.resume === undefined && fs.existsSync(path.join(outDir, 'checkpoint.safetensors'))) {
          throw new UsageError(`train-ae: '${outDir}' already holds a checkpoint; pass --resume to continue it, or choose another --out`);
        }
        const config: Partial<TrainAutoencoderConfig> = {
          dataset: a.dataset as string, limit: a.limit as number, steps: a.steps as number, batchSize: a['batch-size'] as number, lr: a.lr as number,
          beta: a.beta as number, latentChannels: a['latent-channels'] as number, gradClip: a['grad-clip'] as number, seed: a.seed as number, outDir,
          checkpointEvery: a['checkpoint-every'] as number, logEvery: a['log-every'] as number,
          resume: a.resume === undefined ? false : a.resume === '' ? true : (a.resume as string),
        };
        validateTrainAeConfig({ ...DEFAULT_TRAIN_AE_CONFIG, ...config });
        useBackend(a.backend as string, log);
        const r = await trainAutoencoder(config);
        log(`${r.stopped === 'done' ? 'finished' : 'stopped'} at step ${r.step} in ${r.seconds.toFixed(0)} s; checkpoint ${r.checkpoint}`);
        if (r.stopped === 'nonfinite') process.exitCode = 1;
      },
    )
    .command(
      'train-upsampler',
      'Train the small-to-large decoder of the two-stage generator: a UNet that enlarges 14x14 digits to 28x28 (sample --upsampler runs it on a 14x14 run\'s samples); writes its checkpoint, loss curve and held-out enlargements',
      (y) =>
        backendOption(y)
          .option('dataset', { type: 'string', default: DEFAULT_TRAIN_UPSAMPLER_CONFIG.dataset as string, describe: 'the large images (their 2x2 area averages are the small inputs): mnist (bundled), fashion-mnist, mnist-idx:<dir>, ...' })
          .option('limit', { type: 'number', default: DEFAULT_TRAIN_UPSAMPLER_CONFIG.limit, describe: 'use only the first N training images (0 = all)' })
          .option('model', { type: 'string', default: DEFAULT_TRAIN_UPSAMPLER_CONFIG.model, describe: `UNet preset that adds the detail at the large size: ${Object.keys(UNET_PRESETS).join(', ')}` })
          .option('steps', { type: 'number', default: DEFAULT_TRAIN_UPSAMPLER_CONFIG.steps, describe: 'total optimizer steps' })
          .option('batch-size', { type: 'number', default: DEFAULT_TRAIN_UPSAMPLER_CONFIG.batchSize })
          .option('lr', { type: 'number', default: DEFAULT_TRAIN_UPSAMPLER_CONFIG.lr, describe: 'peak learning rate (Adam), decaying to 0 by the last step along a cosine' })
          .option('warmup', { type: 'number', default: DEFAULT_TRAIN_UPSAMPLER_CONFIG.warmup, describe: 'learning-rate warmup steps' })
          .option('noise-aug', { type: 'number', default: DEFAULT_TRAIN_UPSAMPLER_CONFIG.noiseAug, describe: 'standard deviation of Gaussian noise added to the small inputs in training (images in [-1, 1]), so that the first stage\'s imperfect samples are in the data it learned from (0 = none)' })
          .option('grad-clip', { type: 'number', default: DEFAULT_TRAIN_UPSAMPLER_CONFIG.gradClip, describe: 'clip the gradient norm (0 = off)' })
          .option('seed', { type: 'number', default: DEFAULT_TRAIN_UPSAMPLER_CONFIG.seed })
          .option('out', { type: 'string', default: DEFAULT_TRAIN_UPSAMPLER_CONFIG.outDir, describe: 'output folder' })
          .option('checkpoint-every', { type: 'number', default: DEFAULT_TRAIN_UPSAMPLER_CONFIG.checkpointEvery })
          .option('log-every', { type: 'number', default: DEFAULT_TRAIN_UPSAMPLER_CONFIG.logEvery, describe: 'progress line every N steps (when not on a terminal)' })
          .option('resume', { type: 'string', describe: 'continue from <out>/checkpoint.safetensors (no value) or from this file' }),
      async (a) => {
        const outDir = a.out as string;
        if (a.resume === undefined && fs.existsSync(path.join(outDir, 'checkpoint.safetensors'))) {
          throw new UsageError(`train-upsampler: '${outDir}' already holds a checkpoint; pass --resume to continue it, or choose another --out`);
        }
        const config: Partial<TrainUpsamplerConfig> = {
          dataset: a.dataset as string, limit: a.limit as number, model: a.model as string, steps: a.steps as number, batchSize: a['batch-size'] as number,
          lr: a.lr as number, warmup: a.warmup as number, noiseAug: a['noise-aug'] as number, gradClip: a['grad-clip'] as number, seed: a.seed as number, outDir,
          checkpointEvery: a['checkpoint-every'] as number, logEvery: a['log-every'] as number,
          resume: a.resume === undefined ? false : a.resume === '' ? true : (a.resume as string),
        };
        validateTrainUpsamplerConfig({ ...DEFAULT_TRAIN_UPSAMPLER_CONFIG, ...config });
        useBackend(a.backend as string, log);
        const r = await trainUpsampler(config);
        log(`${r.stopped === 'done' ? 'finished' : 'stopped'} at step ${r.step} in ${r.seconds.toFixed(0)} s; checkpoint ${r.checkpoint}`);
        if (r.stopped === 'nonfinite') process.exitCode = 1;
      },
    )
    .command(
      'sample',
      'Draw images from a checkpoint: a grid, one PNG per image, and the reverse process',
      (y) =>
        backendOption(y)
          .option('checkpoint', { type: 'string', describe: `a training checkpoint, an export of one, or a weights file (default: the shipped pretrained ${path.join('assets', 'mnist-ddpm.safetensors')}, the EMA weights of the default run)` })
          .option('vae', { type: 'string', describe: 'instead of a diffusion checkpoint: an autoencoder from train-ae, whose decoder turns z ~ N(0, I) into images (the VAE\'s own samples)' })
          .option('upsampler', { type: 'string', describe: 'the two-stage sampler: an upsampler from train-upsampler that enlarges each sample of --checkpoint (a run trained with --image-size 14) to 28x28' })
          .option('n', { type: 'number', default: 64, describe: 'number of images' })
          .option('sampler', { type: 'string', choices: [...SAMPLER_KINDS], default: 'ddim', describe: 'ddim (Song et al. 2021), ddpm (Ho et al. 2020, all T steps) or dpm-solver++ (2M, Lu et al. 2022: second order, for 10-25 steps)' })
          .option('steps', { type: 'number', default: 25, describe: 'DDIM or DPM-Solver++ steps (DDPM always takes all T); README: 25 score as 50 on the default run at its guidance, 1.5' })
          .option('eta', { type: 'number', default: 0, describe: 'DDIM noise: 0 deterministic, 1 DDPM-like' })
          .option('seed', { type: 'number', default: 0 })
          .option('weights', { type: 'string', choices: ['ema', 'model'], default: 'ema', describe: 'which weights of a training checkpoint' })
          .option('batch-size', { type: 'number', default: 64, describe: 'images per forward pass' })
          .option('model', { type: 'string', describe: 'UNet preset, for a plain weights file' })
          .option('image-size', { type: 'number', default: 28, describe: 'image size, for a plain weights file' })
          .option('channels', { type: 'number', default: 1, describe: 'image channels, for a plain weights file' })
          .option('workers', { type: 'string', default: 'auto', describe: 'threads that share each batch: a number, or auto = one per CPU core on the CPU backends, 1 on gpujs:gpu and ref (with --single-threaded-gc, as for train)' })
          .option('out', { type: 'string', describe: 'output folder (default: <checkpoint folder>/sampled)' })
          .option('class', { type: 'string', describe: 'conditional checkpoints: the class to draw, or a comma list drawn in turn (default: every class in turn; a text checkpoint is given each class\'s first caption)' })
          .option('prompt', { type: 'string', describe: 'text-conditional checkpoints: the prompt for every image, e.g. "a handwritten seven", or several separated by | drawn in turn' })
          .option('guidance', { type: 'string', describe: 'conditional checkpoints: classifier-free guidance scale w (0 = unconditional, 1 = conditional, > 1 = guided; default: the training run\'s --guidance), or a comma list: one folder per scale and guidance_grid.png' }),
      async (a) => {
        if (a.vae !== undefined) {
          if (a.checkpoint !== undefined) throw new UsageError('sample: give --checkpoint (a diffusion run) or --vae (an autoencoder), not both');
          if (a.upsampler !== undefined) throw new UsageError('sample: --upsampler enlarges the samples of a diffusion --checkpoint, not those of --vae');
          const given = (['class', 'prompt', 'guidance'] as const).find((k) => a[k] !== undefined);
          if (given) throw new UsageError(`sample: --${given} steers a diffusion checkpoint; the autoencoder '${a.vae}' samples its prior unconditioned`);
          if (!fs.existsSync(a.vae as string)) throw new UsageError(`sample: --vae: no file '${a.vae}'`);
          useBackend(a.backend as string, log);
          vaeSampleCommand({ vae: a.vae as string, n: a.n as number, seed: a.seed as number, batchSize: a['batch-size'] as number, out: a.out as string | undefined }, log);
          return;
        }
        if (a.checkpoint === undefined && a.upsampler !== undefined) throw new UsageError('sample: --upsampler needs --checkpoint: the small-image run (train --image-size 14) whose samples it enlarges');
        if (a.upsampler !== undefined && !fs.existsSync(a.upsampler as string)) throw new UsageError(`sample: --upsampler: no file '${a.upsampler}'`);
        if (a.checkpoint === undefined) {
          const shipped = shippedAssetPath('mnist', 'ddpm');
          if (!fs.existsSync(shipped)) throw new UsageError(`sample: give --checkpoint (a diffusion run's checkpoint.safetensors) or --vae; the shipped pretrained checkpoint '${shipped}' is missing from this copy`);
          log(`no --checkpoint: sampling the shipped pretrained checkpoint ${path.relative(process.cwd(), shipped) || shipped} (the default run's EMA weights; README, "The pretrained checkpoint")`);
          a.checkpoint = shipped;
          a.out ??= path.join('runs', 'pretrained', 'sampled');
        }
        await sampleCommand({ ...(a as never as SampleArgs), workers: a.workers === 'auto' ? 'auto' : Number(a.workers) }, log, () => useBackend(a.backend as string, log));
      },
    )
    .command(
      'export',
      'Cut a training checkpoint down for sampling: its EMA weights and config, without the raw weights, the Adam state and the data position (a quarter of the size: weights, EMA and the two Adam moments are four copies; what assets/mnist-ddpm.safetensors is)',
      (y) =>
        y
          .option('checkpoint', { type: 'string', demandOption: true, describe: 'a training checkpoint, e.g. runs/mnist/checkpoint.safetensors' })
          .option('out', { type: 'string', demandOption: true, describe: 'the file to write (sample reads it with --checkpoint; train --resume refuses it)' }),
      (a) => {
        const from = a.checkpoint as string;
        const out = a.out as string;
        if (!fs.existsSync(from)) throw new UsageError(`export: no checkpoint at '${from}'`);
        if (path.resolve(from) === path.resolve(out)) throw new UsageError(`export: --out '${out}' is the checkpoint itself; write the export to another file`);
        fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
        const r = exportSamplingCheckpoint(from, out);
        log(`export: wrote ${out} (${fs.statSync(out).size.toLocaleString('en-US')} bytes: ${r.parameters.toLocaleString('en-US')} EMA weights in ${r.tensors} tensors, and the run's config) from ${from} (${fs.statSync(from).size.toLocaleString('en-US')} bytes)`);
      },
    )
    .command(
      'noise',
      'Picture the forward process: one real image noised at t = 0 .. T-1',
      (y) =>
        y
          .option('dataset', { type: 'string', default: 'mnist' })
          .option('index', { type: 'number', default: 0, describe: 'which image of the dataset' })
          .option('columns', { type: 'number', default: 11 })
          .option('timesteps', { type: 'number', default: 1000 })
          .option('beta-schedule', { type: 'string', choices: ['linear', 'cosine'], default: 'linear' })
          .option('seed', { type: 'number', default: 0 })
          .option('out', { type: 'string', default: 'runs/noise.png' }),
      (a) => noiseCommand(a as never, log),
    )
    .command(
      'eval',
      'Score a folder of samples (what sample writes to <out>/images) with a classifier trained on the real data: ' +
        'FID against held-out real images, the real-vs-real FID floor at the same N, the share of confidently recognized samples, and class coverage',
      (y) =>
        backendOption(y)
          .option('samples', { type: 'string', demandOption: true, describe: 'folder of PNG images, e.g. runs/mnist/sampled/images' })
          .option('dataset', { type: 'string', default: 'mnist', describe: `the real images: ${DATASET_SPEC_FORMS.join(' | ')}` })
          .option('classifier', { type: 'string', describe: 'classifier weights (default: the shipped assets/<dataset>-classifier.safetensors)' })
          .option('n', { type: 'number', describe: 'images on each side (default: all PNGs, at most the held-out set)' })
          .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON instead of a table' })
          .option('labels', { type: 'string', describe: 'the class each sample was asked for (default: the labels.json that sample writes beside the images folder, when there is one): adds asked-class accuracy' }),
      (a) => {
        evalCommand(
          { samples: a.samples as string, dataset: a.dataset as string, classifier: a.classifier as string | undefined, n: a.n as number | undefined, json: a.json as boolean, labels: a.labels as string | undefined },
          log, undefined, () => useBackend(a.backend as string, log),
        );
      },
    )
    .command(
      'classifier',
      'Train the small CNN that eval measures with, and save it with its held-out accuracy ' +
        '(the shipped assets/mnist-classifier.safetensors came from the defaults: 99 s of training on 2 CPU cores with gpujs:webasm, 98.0% on the 1,000 held-out digits; assets/fashion-mnist-classifier.safetensors: --dataset fashion-mnist --limit 20000, 261 s, 88.1% on the 10,000 test images)',
      (y) =>
        backendOption(y)
          .option('dataset', { type: 'string', default: 'mnist', describe: `dataset: ${DATASET_SPEC_FORMS.join(' | ')}` })
          .option('out', { type: 'string', describe: 'weights file (default: assets/<dataset>-classifier.safetensors)' })
          .option('epochs', { type: 'number', default: 4 })
          .option('batch-size', { type: 'number', default: 32 })
          .option('lr', { type: 'number', default: 5e-3, describe: 'peak learning rate (Adam, cosine decay to 0)' })
          .option('seed', { type: 'number', default: 0 })
          .option('limit', { type: 'number', default: 0, describe: 'train on the first N training images only (0 = all)' }),
      (a) => {
        classifierCommand(
          { dataset: a.dataset as string, out: a.out as string | undefined, epochs: a.epochs as number, batchSize: a['batch-size'] as number, lr: a.lr as number, seed: a.seed as number, limit: a.limit as number, backend: a.backend as string },
          log, () => useBackend(a.backend as string, log).name,
        );
      },
    )
    .command(
      'clip',
      'Train the CLIP-style model that clip-score measures with: an image encoder and a text encoder trained contrastively on digits and captions made from their labels',
      (y) =>
        backendOption(y)
          .option('dataset', { type: 'string', default: 'mnist', describe: `dataset: ${DATASET_SPEC_FORMS.join(' | ')}` })
          .option('out', { type: 'string', describe: 'weights file (default: assets/<dataset>-clip.safetensors)' })
          .option('steps', { type: 'number', default: 600 })
          .option('groups', { type: 'number', default: 4, describe: 'groups of one image per class in each step' })
          .option('lr', { type: 'number', default: 2e-3, describe: 'peak learning rate (Adam, cosine decay to 0)' })
          .option('seed', { type: 'number', default: 0 })
          .option('limit', { type: 'number', default: 0, describe: 'train on the first N training images only (0 = all)' }),
      (a) => {
        clipCommand(
          { dataset: a.dataset as string, out: a.out as string | undefined, steps: a.steps as number, groups: a.groups as number, lr: a.lr as number, seed: a.seed as number, limit: a.limit as number },
          log, () => useBackend(a.backend as string, log).name,
        );
      },
    )
    .command(
      'clip-score',
      'Score images against prompts with the CLIP-style model: the mean cosine of each image and its prompt, next to the same with the prompts shuffled',
      (y) =>
        backendOption(y)
          .option('samples', { type: 'string', describe: 'folder of PNG images (what sample writes to <out>/images)' })
          .option('real', { type: 'boolean', default: false, describe: 'score the held-out real images with captions of their classes instead' })
          .option('prompt', { type: 'string', describe: 'one prompt for every image' })
          .option('prompts', { type: 'string', describe: 'a text file, one prompt per line and image (default: the prompts or classes of the labels.json that sample writes)' })
          .option('clip', { type: 'string', describe: 'CLIP model weights (default: the shipped assets/<dataset>-clip.safetensors)' })
          .option('dataset', { type: 'string', default: 'mnist' })
          .option('seed', { type: 'number', default: 0, describe: 'seeds the shuffle (and the captions drawn for --real)' })
          .option('json', { type: 'boolean', default: false }),
      (a) => {
        clipScoreCommand(
          { samples: a.samples as string | undefined, real: a.real as boolean, prompt: a.prompt as string | undefined, prompts: a.prompts as string | undefined, clip: a.clip as string | undefined, dataset: a.dataset as string, seed: a.seed as number, json: a.json as boolean },
          log, undefined, () => useBackend(a.backend as string, log),
        );
      },
    )
    .demandCommand(1, 'Name a command: train, train-ae, train-upsampler, sample, noise, eval, classifier, clip or clip-score (see --help).')
    .strict()
    .fail((msg, err, y) => {
      if (err) throw err;
      throw new UsageError(`${msg}\nRun 'tiny-ddpm --help' for usage.`);
    })
    .help()
    .version(false);
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildCli(argv).parseAsync();
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    const e = err as Error;
    // Our own checks, the library's argument errors and a dataset that cannot be read as asked
    // are one line; anything else is a bug and keeps its stack.
    const expected = e instanceof UsageError || e instanceof DatasetError || /^[a-zA-Z][\w.-]*( [\w-]+)?: /.test(e.message);
    process.stderr.write(`tiny-ddpm: ${expected ? e.message : e.stack}\n`);
    return 2;
  }
}

if (require.main === module && !relaunchWithSingleThreadedGc()) {
  main(hideBin(process.argv)).then((code) => process.exit(code));
}
