/**
 * A data-parallel worker (see parallel.ts): it holds a replica of the model. For a training
 * request it loads the main thread's weights, runs forward and backward on its shard, and
 * posts the loss and the gradients back; for a sampling request it posts the noise
 * prediction of its shard (the weights come with a predictor's first request only).
 */
import { workerData } from 'worker_threads';
import { setBackend } from '../backend/registry';
import { resolveBackend } from '../backend/select';
import { noGrad } from '../autograd';
import { NoiseSchedule } from '../diffusion/schedule';
import { createUNet } from '../nn/unet';
import { Tensor } from '../tensor';
import { accumulateGradients, type ForwardRequest, type ShardRequest, type ShardResult, type WorkerInit } from './parallel';

const init = workerData as WorkerInit;
const flags = new Int32Array(init.flags);

/** The replica, built once; a failure here is reported with the first request. */
function setUp() {
  setBackend(resolveBackend(init.backendSpec).backend);
  const model = createUNet(init.modelConfig);
  return { model, schedule: new NoiseSchedule(init.schedule), params: model.namedParameters().map(([, p]) => p) };
}
let replica: ReturnType<typeof setUp> | null = null;

function loadWeights(weights: Float32Array): void {
  let offset = 0;
  noGrad(() => {
    for (const p of replica!.params) {
      p.assign_(Tensor.fromBuf(p.backend.fromArray(weights.subarray(offset, offset + p.size)), p.shape, p.backend));
      offset += p.size;
    }
  });
}

/** A sampling step's noise prediction on this shard. */
function forward(req: ForwardRequest): { result: ShardResult; transfer: ArrayBuffer[] } {
  replica ??= setUp();
  const { model, params } = replica;
  if (req.weights) loadWeights(req.weights);
  const backend = params[0].backend;
  model.eval();
  const output = noGrad(() => {
    const x = Tensor.fromBuf(backend.fromArray(req.x), req.shape, backend);
    const t = Tensor.fromBuf(backend.fromArray(req.t), [req.t.length], backend);
    return model.forward(x, t, req.labels).toArray();
  });
  return { result: { output }, transfer: [output.buffer as ArrayBuffer] };
}

function work(req: ShardRequest): { result: ShardResult; transfer: ArrayBuffer[] } {
  replica ??= setUp();
  const { model, schedule, params } = replica;
  loadWeights(req.weights);
  model.train();
  model.zeroGrad();
  const backend = params[0].backend;
  const x0 = Tensor.fromBuf(backend.fromArray(req.x0), req.shape, backend);
  const noise = Tensor.fromBuf(backend.fromArray(req.noise), req.shape, backend);
  const loss = accumulateGradients(model, schedule, x0, req.t, noise, init.microBatch, 1, { objective: init.objective, labels: req.labels });
  const grads = new Float32Array(req.weights.length);
  let offset = 0;
  for (const p of params) {
    if (p.grad) grads.set(p.grad.toArray(), offset);
    offset += p.size;
  }
  return { result: { loss, grads }, transfer: [grads.buffer] };
}

init.port.on('message', (req: ShardRequest | ForwardRequest) => {
  let reply: { result: ShardResult; transfer: ArrayBuffer[] };
  try {
    reply = req.kind === 'forward' ? forward(req) : work(req);
  } catch (err) {
    reply = { result: { error: (err as Error).stack ?? String(err) }, transfer: [] };
  }
  init.port.postMessage(reply.result, reply.transfer);
  Atomics.store(flags, init.index, 1);
  Atomics.notify(flags, init.index);
});
