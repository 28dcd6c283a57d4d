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
 * and the EMA. The tensor API stays synchronous: the main thread blocks on Atomics.wait and
 * receives each result with receiveMessageOnPort.
 */
import * as path from 'path';
import { MessageChannel, MessagePort, Worker, receiveMessageOnPort } from 'worker_threads';
import { noGrad } from '../autograd';
import { denoisingLoss } from '../diffusion/forward';
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
}

export interface ShardRequest {
  /** all parameters, concatenated in namedParameters() order */
  weights: Float32Array;
  x0: Float32Array;
  shape: number[];
  t: Int32Array;
  noise: Float32Array;
}

export interface ShardResult {
  loss?: number;
  /** gradients, concatenated like the weights */
  grads?: Float32Array;
  error?: string;
}

/** Sizes of `parts` nearly equal shards of `batch` (the first ones one larger). */
export function shardSizes(batch: number, parts: number): number[] {
  const base = Math.floor(batch / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < batch % parts ? 1 : 0)).filter((s) => s > 0);
}

/** How long the main thread waits for one shard before giving up. */
const WORKER_TIMEOUT_MS = 30 * 60 * 1000;

export class DataParallel {
  private readonly workers: { worker: Worker; port: MessagePort }[] = [];
  private readonly flags: Int32Array;

  /** `threads` in all, the main thread included (threads - 1 workers are started). */
  constructor(readonly threads: number, backendSpec: string, model: UNet, schedule: NoiseSchedule) {
    if (!(Number.isInteger(threads) && threads >= 2)) throw new Error(`DataParallel: threads must be an integer >= 2, got ${threads}`);
    const sab = new SharedArrayBuffer(4 * threads);
    this.flags = new Int32Array(sab);
    // from the TypeScript sources (tests, ts-node) the worker needs ts-node too
    const fromSource = __filename.endsWith('.ts');
    const file = path.join(__dirname, fromSource ? 'worker.ts' : 'worker.js');
    for (let i = 1; i < threads; i++) {
      const { port1, port2 } = new MessageChannel();
      const init: WorkerInit = { backendSpec, modelConfig: model.config, schedule: schedule.config, port: port2, flags: sab, index: i };
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
   * whole batch (Algorithm 1).
   */
  lossAndGradients(model: UNet, schedule: NoiseSchedule, x0: Tensor, t: Int32Array, noise: Tensor): number {
    const batch = x0.shape[0];
    const sizes = shardSizes(batch, this.threads);
    const per = x0.size / batch;
    const params = model.namedParameters().map(([, p]) => p);
    const weights = concatArrays(params.map((p) => p.toArray()));
    const x0Host = x0.toArray();
    const noiseHost = noise.toArray();

    // send shards 1.. to the workers, then work on shard 0 here
    let start = sizes[0];
    sizes.slice(1).forEach((size, k) => {
      const end = start + size;
      Atomics.store(this.flags, k + 1, 0);
      const req: ShardRequest = {
        weights: k === sizes.length - 2 ? weights : weights.slice(),
        x0: x0Host.slice(start * per, end * per),
        shape: [size, ...x0.shape.slice(1)],
        t: t.slice(start, end),
        noise: noiseHost.slice(start * per, end * per),
      };
      this.workers[k].port.postMessage(req, [req.x0.buffer, req.t.buffer, req.noise.buffer] as ArrayBuffer[]);
      start = end;
    });
    const own = sizes[0];
    const { loss } = denoisingLoss((x, tt) => model.forward(x, tt), schedule, x0.slice(0, 0, own), t.slice(0, own), noise.slice(0, 0, own));
    loss.backward();
    let total = loss.item() * (own / batch);

    noGrad(() => {
      for (const p of params) if (p.grad) p.grad = p.grad.mul(own / batch);
      sizes.slice(1).forEach((size, k) => {
        const result = this.receive(k);
        total += result.loss! * (size / batch);
        let offset = 0;
        for (const p of params) {
          const g = Tensor.fromBuf(p.backend.fromArray(result.grads!.subarray(offset, offset + p.size)), p.shape, p.backend).mul(size / batch);
          p.grad = p.grad ? p.grad.add(g) : g;
          offset += p.size;
        }
      });
    });
    return total;
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
