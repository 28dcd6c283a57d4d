/**
 * Data parallelism over worker threads: the batch is split into shards, each thread runs the
 * same (synchronous) model on its shard, and the gradients are averaged, weighted by shard
 * size, so the step equals the full-batch step up to the order of float32 additions.
 *
 *   main thread                          worker k (one per extra core)
 *   draw t and noise for the whole batch
 *   send weights + shard k  ───────────▶ load weights, forward + backward on shard k
 *   forward + backward on shard 0         post gradients, raise flag k
 *   wait for flag k (Atomics.wait) ◀──── 
 *   grad = sum_k (b_k / B) grad_k;  loss likewise
 *
 * Everything random is drawn on the main thread, so a run gives the same numbers whatever
 * the number of workers (up to summation order). Only the main thread updates weights, Adam
 * and the EMA. Sampling splits its batches the same way (`predictor`). The tensor API stays synchronous: the main thread blocks on Atomics.wait and
 * receives each result with receiveMessageOnPort.
 */
import * as os from 'os';
import * as path from 'path';
import { MessageChannel, MessagePort, Worker, receiveMessageOnPort } from 'worker_threads';
import { noGrad } from '../autograd';
import { denoisingLoss, type NoisePredictor } from '../diffusion/forward';
import { EPS_OBJECTIVE, type Objective } from '../diffusion/objective';
import { warnWithoutSingleThreadedGc } from '../single-threaded-gc';
import { concat } from '../ops/shape';
import type { NoiseSchedule, ScheduleConfig } from '../diffusion/schedule';
import type { UNet, UNetConfig } from '../nn/unet';
import { Tensor } from '../tensor';

export interface WorkerInit {
  backendSpec: string;
  modelConfig: UNetConfig;
  schedule: ScheduleConfig;
  port: MessagePort;
  flags: SharedArrayBuffer;
  index: number;
  /** images per forward/backward pass of a shard */
  microBatch: number;
  /** what the network predicts and how the loss weights timesteps */
  objective: Objective;
}

/** Forward + backward of the denoising loss on a shard (a training step). */
export interface ShardRequest {
  kind: 'train';
  /** all parameters, concatenated in namedParameters() order */
  weights: Float32Array;
  x0: Float32Array;
  shape: number[];
  t: Int32Array;
  noise: Float32Array;
  /** the class of each image of the shard (class-conditional runs, after label dropout) */
  labels?: Int32Array;
}

/** The noise prediction for a shard, in eval mode and without a graph (a sampling step). */
export interface ForwardRequest {
  kind: 'forward';
  /** the weights, sent with a predictor's first request to this worker only; later ones reuse them */
  weights?: Float32Array;
  x: Float32Array;
  shape: number[];
  t: Float32Array;
  labels?: Int32Array;
}

export interface ShardResult {
  loss?: number;
  /** gradients, concatenated like the weights */
  grads?: Float32Array;
  /** the prediction of a forward request */
  output?: Float32Array;
  error?: string;
}

/**
 * `--workers auto`: one thread per CPU core on the gpu.js CPU modes (webasm, cpu), capped by
 * the batch; 1 on gpujs:gpu (one GPU) and on the reference backend (a definition, not a speed path).
 */
export function autoWorkers(backendName: string, batchSize: number, cores = os.availableParallelism()): number {
  const cpuMode = backendName === 'gpujs-webasm' || backendName === 'gpujs-cpu';
  return cpuMode ? Math.max(1, Math.min(cores, batchSize)) : 1;
}

/** Sizes of `parts` nearly equal shards of `batch` (the first ones one larger). */
export function shardSizes(batch: number, parts: number): number[] {
  const base = Math.floor(batch / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < batch % parts ? 1 : 0)).filter((s) => s > 0);
}

/**
 * Forward and backward of the denoising loss (Algorithm 1) over the images of x0 in passes of
 * at most `microBatch` images, each pass's loss weighted by (its images / all images) * weight,
 * so the gradients accumulated in .grad are those of the mean loss over all of x0, times
 * `weight` (images do not interact in the UNet; only float32 rounding differs from one pass).
 * Smaller passes have smaller activations, which stay in the CPU's caches: on the 2-core
 * machines a unet-tiny step at batch 64 on one thread took 8.3 s in one pass, 6.2 s in passes of
 * 16 and 5.9 s in passes of 32 (bench/train-step.ts --micro-batch).
 * `objective` (default eps, unweighted) and `labels` (class-conditional runs) are passed to
 * denoisingLoss. Returns the weighted loss, or a non-finite number as soon as a pass's loss
 * is one (then without its backward: the caller stops before updating).
 */
export function accumulateGradients(
  model: UNet, schedule: NoiseSchedule, x0: Tensor, t: Int32Array, noise: Tensor, microBatch: number, weight = 1,
  opts: { objective?: Objective; labels?: Int32Array } = {},
): number {
  const n = x0.shape[0];
  let total = 0;
  for (let start = 0; start < n; start += microBatch) {
    const end = Math.min(n, start + microBatch);
    const k = opts.labels ? opts.labels.length / n : 0; // condition ids per image
    const labels = opts.labels?.slice(start * k, end * k);
    const { loss } = denoisingLoss((x, tt, y) => model.forward(x, tt, y), schedule, x0.slice(0, start, end), t.slice(start, end), noise.slice(0, start, end), { objective: opts.objective, labels });
    const value = loss.item();
    if (!Number.isFinite(value)) return value;
    const w = (weight * (end - start)) / n;
    loss.mul(w).backward();
    total += value * w;
  }
  return total;
}

/** The noise predictor a sampler calls: the model itself, or its batches split over `parallel`'s threads. */
export function noisePredictor(model: UNet, parallel: DataParallel | null): NoisePredictor {
  return parallel ? parallel.predictor(model) : (x, t, labels) => model.forward(x, t, labels);
}

/** How long the main thread waits for one shard before giving up. */
const WORKER_TIMEOUT_MS = 30 * 60 * 1000;

export class DataParallel {
  private readonly workers: { worker: Worker; port: MessagePort }[] = [];
  private readonly flags: Int32Array;

  /**
   * `threads` in all, the main thread included (threads - 1 workers are started); each thread
   * runs its shard in passes of at most `microBatch` images (accumulateGradients). `backend`
   * is what the workers start: a spec ('gpujs:webasm') or a running backend's name
   * ('gpujs-webasm', the same). `objective` is the training objective of lossAndGradients.
   */
  constructor(readonly threads: number, backend: string, model: UNet, schedule: NoiseSchedule, readonly microBatch = Infinity, readonly objective: Objective = EPS_OBJECTIVE) {
    if (!(Number.isInteger(threads) && threads >= 2)) throw new Error(`DataParallel: threads must be an integer >= 2, got ${threads}`);
    warnWithoutSingleThreadedGc(`DataParallel on ${threads} threads`);
    const backendSpec = backend.replace(/^gpujs-/, 'gpujs:');
    const sab = new SharedArrayBuffer(4 * threads);
    this.flags = new Int32Array(sab);
    // from the TypeScript sources (tests, ts-node) the worker needs ts-node too
    const fromSource = __filename.endsWith('.ts');
    const file = path.join(__dirname, fromSource ? 'worker.ts' : 'worker.js');
    for (let i = 1; i < threads; i++) {
      const { port1, port2 } = new MessageChannel();
      const init: WorkerInit = { backendSpec, modelConfig: model.config, schedule: schedule.config, port: port2, flags: sab, index: i, microBatch, objective };
      const worker = new Worker(file, {
        workerData: init,
        transferList: [port2],
        execArgv: fromSource ? ['--require', 'ts-node/register/transpile-only'] : [],
      });
      worker.unref();
      this.workers.push({ worker, port: port1 });
    }
  }

  /**
   * The loss of the batch (mean over all its pixels, as in the single-thread step) and its
   * gradient in every parameter's .grad. `t` and `noise` are drawn by the caller for the
   * whole batch (Algorithm 1), and so are the class `labels` of a class-conditional run.
   */
  lossAndGradients(model: UNet, schedule: NoiseSchedule, x0: Tensor, t: Int32Array, noise: Tensor, labels?: Int32Array): number {
    const batch = x0.shape[0];
    const sizes = shardSizes(batch, this.threads);
    const per = x0.size / batch;
    const params = model.namedParameters().map(([, p]) => p);
    const weights = concatArrays(params.map((p) => p.toArray()));
    const x0Host = x0.toArray();
    const noiseHost = noise.toArray();
    const stride = labels ? labels.length / batch : 0; // condition ids per image

    // send shards 1.. to the workers, then work on shard 0 here
    this.postShards(sizes, (k, start, end) => {
      const message: ShardRequest = {
        kind: 'train',
        weights: k === sizes.length - 2 ? weights : weights.slice(),
        x0: x0Host.slice(start * per, end * per),
        shape: [end - start, ...x0.shape.slice(1)],
        t: t.slice(start, end),
        noise: noiseHost.slice(start * per, end * per),
        labels: labels?.slice(start * stride, end * stride),
      };
      return { message, transfer: [message.x0.buffer, message.t.buffer, message.noise.buffer] as ArrayBuffer[] };
    });
    const own = sizes[0];
    // shard 0 here, its gradients weighted by its share of the batch
    let total = accumulateGradients(model, schedule, x0.slice(0, 0, own), t.slice(0, own), noise.slice(0, 0, own), this.microBatch, own / batch, { objective: this.objective, labels: labels?.slice(0, own * stride) });

    noGrad(() => {
      sizes.slice(1).forEach((size, k) => {
        const result = this.receive(k);
        total += result.loss! * (size / batch);
        let offset = 0;
        for (const p of params) {
          if (p.requiresGrad) { // a frozen parameter (a frozen text tower) keeps no gradient
            const g = Tensor.fromBuf(p.backend.fromArray(result.grads!.subarray(offset, offset + p.size)), p.shape, p.backend).mul(size / batch);
            p.grad = p.grad ? p.grad.add(g) : g;
          }
          offset += p.size;
        }
      });
    });
    return total;
  }

  /**
   * A noise predictor for the samplers that splits each batch over the threads like a
   * training step: shard 0 here, the others on the workers, outputs concatenated in order.
   * It uses the model's weights as they are now (e.g. the EMA weights copied in), sent to
   * each worker once. Images do not interact in the UNet, so the result equals the
   * single-thread forward pass up to float32 rounding.
   */
  predictor(model: UNet): NoisePredictor {
    const weights = concatArrays(model.namedParameters().map(([, p]) => p.toArray()));
    const sent = new Set<number>();
    return (x: Tensor, t: Tensor, labels?: Int32Array) => {
      const batch = x.shape[0];
      const sizes = shardSizes(batch, this.threads);
      if (sizes.length === 1) return model.forward(x, t, labels);
      const per = x.size / batch;
      const xHost = x.toArray();
      const tHost = t.toArray();
      const stride = labels ? labels.length / batch : 0; // condition ids per image
      this.postShards(sizes, (k, start, end) => {
        const message: ForwardRequest = {
          kind: 'forward',
          weights: sent.has(k) ? undefined : weights,
          x: xHost.slice(start * per, end * per),
          shape: [end - start, ...x.shape.slice(1)],
          t: tHost.slice(start, end),
          labels: labels?.slice(start * stride, end * stride),
        };
        sent.add(k);
        return { message, transfer: [message.x.buffer, message.t.buffer] as ArrayBuffer[] };
      });
      const parts = [model.forward(x.slice(0, 0, sizes[0]), t.slice(0, 0, sizes[0]), labels?.slice(0, sizes[0] * stride))];
      sizes.slice(1).forEach((size, k) => {
        const output = this.receive(k).output!;
        parts.push(Tensor.fromBuf(x.backend.fromArray(output), [size, ...x.shape.slice(1)], x.backend));
      });
      return concat(parts, 0);
    };
  }

  /**
   * Post shards 1.. of `sizes` to the workers (shard 0 stays on this thread): request(k, start,
   * end) builds worker k's message for images [start, end) and lists its transferable buffers.
   */
  private postShards(sizes: number[], request: (k: number, start: number, end: number) => { message: ShardRequest | ForwardRequest; transfer: ArrayBuffer[] }): void {
    let start = sizes[0];
    sizes.slice(1).forEach((size, k) => {
      const end = start + size;
      Atomics.store(this.flags, k + 1, 0);
      const { message, transfer } = request(k, start, end);
      this.workers[k].port.postMessage(message, transfer);
      start = end;
    });
  }

  /** Block until worker k has posted its result. */
  private receive(k: number): ShardResult {
    const started = Date.now();
    while (Atomics.load(this.flags, k + 1) === 0) {
      Atomics.wait(this.flags, k + 1, 0, 1000);
      if (Date.now() - started > WORKER_TIMEOUT_MS) throw new Error(`DataParallel: worker ${k + 1} gave no result in ${WORKER_TIMEOUT_MS / 1000} s (did it crash?)`);
    }
    const msg = receiveMessageOnPort(this.workers[k].port);
    const result = msg?.message as ShardResult | undefined;
    if (!result) throw new Error(`DataParallel: worker ${k + 1} raised its flag without a result`);
    if (result.error) throw new Error(`DataParallel: worker ${k + 1} failed: ${result.error}`);
    return result;
  }

  close(): Promise<number[]> {
    return Promise.all(this.workers.map(({ worker, port }) => (port.close(), worker.terminate())));
  }
}

function concatArrays(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
