/**
 * A data-parallel training worker (see parallel.ts): it holds a replica of the model, and for
 * each request loads the main thread's weights, runs forward and backward on its shard, and
 * posts the loss and the gradients back.
 */
import { workerData } from 'worker_threads';
import { setBackend } from '../backend/registry';
import { resolveBackend } from '../backend/select';
import { noGrad } from '../autograd';
import { denoisingLoss } from '../diffusion/forward';
import { NoiseSchedule } from '../diffusion/schedule';
import { createUNet } from '../nn/unet';
import { Tensor } from '../tensor';
import type { ShardRequest, ShardResult, WorkerInit } from './parallel';

const init = workerData as WorkerInit;
const flags = new Int32Array(init.flags);

/** The replica, built once; a failure here is reported with the first request. */
function setUp() {
  setBackend(resolveBackend(init.backendSpec).backend);
  const model = createUNet(init.modelConfig);
  return { model, schedule: new NoiseSchedule(init.schedule), params: model.namedParameters().map(([, p]) => p) };
}
let replica: ReturnType<typeof setUp> | null = null;

function work(req: ShardRequest): { result: ShardResult; transfer: ArrayBuffer[] } {
  replica ??= setUp();
  const { model, schedule, params } = replica;
  let offset = 0;
  noGrad(() => {
    for (const p of params) {
      p.assign_(Tensor.fromBuf(p.backend.fromArray(req.weights.subarray(offset, offset + p.size)), p.shape, p.backend));
      offset += p.size;
    }
  });
  model.zeroGrad();
  const backend = params[0].backend;
  const x0 = Tensor.fromBuf(backend.fromArray(req.x0), req.shape, backend);
  const noise = Tensor.fromBuf(backend.fromArray(req.noise), req.shape, backend);
  const { loss } = denoisingLoss((x, t) => model.forward(x, t), schedule, x0, req.t, noise);
  loss.backward();
  const grads = new Float32Array(req.weights.length);
  offset = 0;
  for (const p of params) {
    if (p.grad) grads.set(p.grad.toArray(), offset);
    offset += p.size;
  }
  return { result: { loss: loss.item(), grads }, transfer: [grads.buffer] };
}

init.port.on('message', (req: ShardRequest) => {
  let reply: { result: ShardResult; transfer: ArrayBuffer[] };
  try {
    reply = work(req);
  } catch (err) {
    reply = { result: { error: (err as Error).stack ?? String(err) }, transfer: [] };
  }
  init.port.postMessage(reply.result, reply.transfer);
  Atomics.store(flags, init.index, 1);
  Atomics.notify(flags, init.index);
});
