/**
 * The gpu.js backend: every Backend method as one or a few kernels from kernels/, run by a
 * KernelRunner (compile cache, buffers, traps: runner.ts).
 *
 *   const backend = new GpuJsBackend({ mode: 'webasm' });   // or 'gpu', 'cpu'
 *   setBackend(backend);
 *
 * Data stays on the device from fromArray() to toArray(); on GL that means textures from
 * kernel to kernel, read back only in toArray().
 */
import type {
  AdamParams,
  Backend,
  BinaryOp,
  Buf,
  Conv2dParams,
  GroupNormParams,
  MatmulParams,
  Pad2dParams,
  PoolParams,
  ReduceOp,
  StridedView,
  UnaryOp,
  UpsampleParams,
} from '../backend';
import { adamMoment1Spec, adamMoment2Spec, adamParamSpec } from '../../../kernels/adam';
import {
  backwardInputPadded, backwardInputPhase, backwardInputPhaseGrid, backwardWeightOffsets, backwardWeightTSlices, channelsLastSpec, conv2dBackwardWeightTSpec,
  forwardPadded, forwardPhased, interleavePhasesSpec, pad2dSpec, paddedPitch, paddedBackwardInputApplies, paddedForwardApplies, paddedConvSpec, spaceToDepthSpec, sumSlicesTSpec,
} from '../../../kernels/conv2d';
import { concatSpec, copyStridedSpec, MAX_CONCAT_PARTS, uploadSpec } from '../../../kernels/copy';
import { binarySpec, fillSpec, unarySpec, whereSpec } from '../../../kernels/elementwise';
import {
  groupNormBackwardInputSpec, groupNormGradXhatSpec, groupNormGroupMeanSpec, groupNormMeanSpec, groupNormNormalizeSpec, groupNormRstdSpec, groupNormSquaredDeviationSpec,
} from '../../../kernels/groupnorm';
import { matmulSpec } from '../../../kernels/matmul';
import { argReduceIndicesSpec, channelSumSpec, REDUCE_BLOCK, reduceRowsSpec, SUM_LANES, sumLanesFinishSpec, sumLanesSpec } from '../../../kernels/reduce';
import { sumPoolSpec, upsampleNearestSpec } from '../../../kernels/resample';
import { softmaxDenominatorSpec, softmaxNormalizeSpec } from '../../../kernels/softmax';
import { coalesce } from '../../../kernels/strided';
import { availability, type GpuJsMode } from './availability';
import { asGpuBuf, flattenResult, GpuBuf } from './buffer';
import { KernelRunner, type KernelStat, type RunnerOptions } from './runner';

export type GpuJsBackendOptions = RunnerOptions;

const sizeOf = (shape: number[]) => shape.reduce((p, s) => p * s, 1);

export class GpuJsBackend implements Backend {
  readonly name: string;
  readonly mode: GpuJsMode;
  private readonly runner: KernelRunner;

  /**
   * GL only: delete a buffer's texture now (tensor.dispose(), or the core's finalization
   * registry when a Storage is collected). The CPU modes have no free(): their buffers are
   * plain arrays, and leaving free() out keeps the core from registering them, which would
   * hold every one of them until a finalizer runs (never, inside a synchronous loop).
   */
  readonly free?: (buf: Buf) => void;

  constructor(options: GpuJsBackendOptions) {
    this.mode = options.mode;
    const ok = availability(options.mode);
    if (!ok.ok) throw new Error(`gpujs:${options.mode} is not available: ${ok.reason}`);
    this.name = `gpujs-${options.mode}`;
    this.runner = new KernelRunner(options.mode, options);
    if (this.runner.onGL) {
      this.free = (buf: Buf) => {
        if (buf instanceof GpuBuf) this.runner.free(buf);
      };
    }
  }

  /** Per kernel family: calls, compiled shape variants, compile time. */
  kernelStats(): KernelStat[] {
    return this.runner.kernelStats();
  }
  memoryStats() {
    return this.runner.memoryStats();
  }
  /** Wait for queued GPU work to finish (GL queues draws; the CPU modes finish in the call). For timing. */
  sync(): void {
    this.runner.sync();
  }
  /** Release the GPU context and every compiled kernel; buffers of this backend become unusable. */
  destroy(): void {
    this.runner.destroy();
  }

  // ---- storage ----
  fromArray(data: Float32Array): Buf {
    if (this.runner.onGL && data.length > 0) return this.runner.run(uploadSpec(data.length), [data]);
    return this.runner.wrap(data.length, Float32Array.from(data));
  }
  toArray(buf: Buf, size: number): Float32Array {
    const b = asGpuBuf(buf, 'toArray');
    if (size > b.size) throw new Error(`toArray: asked for ${size} numbers from a buffer of ${b.size}`);
    // a texture from a 2-D or 3-D output grid reads back nested (rows of Float32Arrays)
    const all = b.isTexture ? flattenResult((b.data as any).toArray(), b.size) : (b.data as Float32Array);
    return all.slice(0, size);
  }
  full(size: number, value: number): Buf {
    if (this.runner.onGL && size > 0) return this.runner.run(fillSpec(size), [value]);
    return this.runner.wrap(size, new Float32Array(size).fill(value));
  }

  // ---- layout ----
  copyStrided(src: StridedView, shape: number[]): Buf {
    const c = coalesce(shape, [src.strides]);
    return this.runner.run(copyStridedSpec(c, sizeOf(shape)), [asGpuBuf(src.buf, 'copyStrided'), src.offset]);
  }
  concat(parts: Buf[], widths: number[], outer: number): Buf {
    // empty parts add no columns (and a GPU cannot bind an empty texture)
    const kept = parts.map((p, i) => ({ buf: asGpuBuf(p, 'concat'), width: widths[i] })).filter((p) => p.width > 0);
    if (kept.length === 0 || outer === 0) return this.runner.wrap(0, new Float32Array(0));
    let first = kept.splice(0, MAX_CONCAT_PARTS);
    let joined = this.runner.run(concatSpec(first.map((p) => p.width), outer), first.map((p) => p.buf));
    // more parts than one kernel can bind: join the rest onto the result, a round at a time
    while (kept.length > 0) {
      const width = first.reduce((s, p) => s + p.width, 0);
      first = [{ buf: joined, width }, ...kept.splice(0, MAX_CONCAT_PARTS - 1)];
      const next = this.runner.run(concatSpec(first.map((p) => p.width), outer), first.map((p) => p.buf));
      this.runner.free(joined);
      joined = next;
    }
    return joined;
  }

  // ---- elementwise ----
  unary(op: UnaryOp, x: Buf, size: number, a = 0, b = 0): Buf {
    return this.runner.run(unarySpec(op, size), [asGpuBuf(x, op), a, b, NaN]);
  }
  binary(op: BinaryOp, a: StridedView, b: StridedView, shape: number[]): Buf {
    const c = coalesce(shape, [a.strides, b.strides]);
    return this.runner.run(binarySpec(op, c, sizeOf(shape)), [asGpuBuf(a.buf, op), asGpuBuf(b.buf, op), a.offset, b.offset, NaN]);
  }
  where(cond: StridedView, a: StridedView, b: StridedView, shape: number[]): Buf {
    const c = coalesce(shape, [cond.strides, a.strides, b.strides]);
    const bufs = [cond, a, b].map((v) => asGpuBuf(v.buf, 'where'));
    return this.runner.run(whereSpec(c, sizeOf(shape)), [...bufs, cond.offset, a.offset, b.offset]);
  }

  // ---- reductions ----
  reduce(op: ReduceOp, x: Buf, outer: number, n: number): Buf {
    const xb = asGpuBuf(x, op);
    if (n === 0) {
      // as the reference: an empty sum is 0, an empty max/min NaN, an empty arg* 0
      return this.full(outer, op === 'sum' || op === 'argmax' || op === 'argmin' ? 0 : NaN);
    }
    if (op === 'sum' && n >= 2 * SUM_LANES) {
      const partial = this.runner.run(sumLanesSpec(outer, n), [xb]);
      try {
        return this.runner.run(sumLanesFinishSpec(outer), [partial]);
      } finally {
        this.runner.free(partial);
      }
    }
    if (n <= REDUCE_BLOCK) return this.runner.run(reduceRowsSpec(op, outer, n, n), [xb]);
    const blocks = Math.ceil(n / REDUCE_BLOCK);
    const partial = this.runner.run(reduceRowsSpec(op, outer, n, REDUCE_BLOCK), [xb]);
    try {
      if (op === 'argmax' || op === 'argmin') return this.runner.run(argReduceIndicesSpec(op, outer, n, blocks), [xb, partial]);
      return this.runner.run(reduceRowsSpec(op, outer, blocks, blocks), [partial]);
    } finally {
      this.runner.free(partial);
    }
  }
  softmax(x: Buf, outer: number, n: number): Buf {
    const xb = asGpuBuf(x, 'softmax');
    if (outer * n === 0) return this.runner.wrap(0, new Float32Array(0));
    const rowMax = this.reduce('max', xb, outer, n) as GpuBuf;
    const rowSum = this.runner.run(softmaxDenominatorSpec(outer, n), [xb, rowMax]);
    try {
      return this.runner.run(softmaxNormalizeSpec(outer, n), [xb, rowMax, rowSum]);
    } finally {
      this.runner.free(rowMax);
      this.runner.free(rowSum);
    }
  }

  // ---- normalization (kernels/groupnorm.ts) ----
  groupNormForward(x: Buf, weight: Buf, bias: Buf, p: GroupNormParams): { y: Buf; mean: Buf; rstd: Buf } {
    const [xb, wb, bb] = [x, weight, bias].map((b) => asGpuBuf(b, 'groupNormForward'));
    const rows = p.n * p.groups;
    const L = (p.c / p.groups) * p.hw;
    return this.withTemporaries((temp) => {
      const mean = this.runner.run(groupNormMeanSpec(rows, L), [temp(this.reduce('sum', xb, rows, L))]);
      const deviation = temp(this.runner.run(groupNormSquaredDeviationSpec(rows, L), [xb, mean]));
      const rstd = this.runner.run(groupNormRstdSpec(rows, L, p.eps), [temp(this.reduce('sum', deviation, rows, L))]);
      const y = this.runner.run(groupNormNormalizeSpec(p), [xb, mean, rstd, wb, bb]);
      return { y, mean, rstd };
    });
  }
  groupNormBackward(gy: Buf, x: Buf, mean: Buf, rstd: Buf, weight: Buf, p: GroupNormParams): { gx: Buf; gweight: Buf; gbias: Buf } {
    const [gyb, xb, mb, rb, wb] = [gy, x, mean, rstd, weight].map((b) => asGpuBuf(b, 'groupNormBackward'));
    const planes = p.n * p.c;
    return this.withTemporaries((temp) => {
      const s1 = temp(this.reduce('sum', gyb, planes, p.hw));
      const s2 = temp(this.reduce('sum', temp(this.runner.run(groupNormGradXhatSpec(p), [gyb, xb, mb, rb])), planes, p.hw));
      const gbias = this.runner.run(channelSumSpec(p.n, p.c), [s1]);
      const gweight = this.runner.run(channelSumSpec(p.n, p.c), [s2]);
      const meanG = temp(this.runner.run(groupNormGroupMeanSpec(p), [s1, wb]));
      const meanGXhat = temp(this.runner.run(groupNormGroupMeanSpec(p), [s2, wb]));
      const gx = this.runner.run(groupNormBackwardInputSpec(p), [gyb, xb, mb, rb, wb, meanG, meanGXhat]);
      return { gx, gweight, gbias };
    });
  }
  /** Run f, freeing every buffer it passed through temp() when it returns or throws. */
  private withTemporaries<T>(f: (temp: (b: Buf) => GpuBuf) => T): T {
    const temps: GpuBuf[] = [];
    try {
      return f((b) => (temps.push(b as GpuBuf), b as GpuBuf));
    } finally {
      temps.forEach((b) => this.runner.free(b));
    }
  }

  // ---- linear algebra and images ----
  matmul(a: Buf, b: Buf, p: MatmulParams): Buf {
    const ab = asGpuBuf(a, 'matmul');
    const bb = asGpuBuf(b, 'matmul');
    if (p.k === 0) return this.full(p.batch * p.m * p.n, 0);
    return this.runner.run(matmulSpec(p), [ab, bb]);
  }
  conv2d(x: Buf, w: Buf, p: Conv2dParams, bias?: Buf): Buf {
    const xb = asGpuBuf(x, 'conv2d');
    const wb = asGpuBuf(w, 'conv2d');
    const bb = bias === undefined ? undefined : asGpuBuf(bias, 'conv2d');
    const oneByOne = p.kh === 1 && p.kw === 1 && p.strideH === 1 && p.strideW === 1 && p.padH === 0 && p.padW === 0;
    if (p.n * p.cout * p.oh * p.ow === 0) return this.full(0, 0);
    if (p.cin * p.kh * p.kw > 0 && !oneByOne) {
      // stride 1: the padded input; stride s: its stride phases. The kernel adds the bias itself.
      const stride1 = paddedForwardApplies(p);
      const c = stride1 ? forwardPadded(p) : forwardPhased(p);
      const xp = stride1 ? this.pad(xb, p.n * p.cin, p.h, p.w, p.padH, p.padW) : this.runner.run(spaceToDepthSpec(p.n * p.cin, p), [xb]);
      try {
        return this.runner.run(paddedConvSpec('conv2d.forward', { ...c, bias: !!bb }), bb ? [xp, wb, bb] : [xp, wb]);
      } finally {
        if (xp !== xb) this.runner.free(xp);
      }
    }
    // no taps: zeros; a 1x1 conv: a matmul per image, y[b] = W [cout, cin] x[b] [cin, h*w]
    const y =
      p.cin * p.kh * p.kw === 0
        ? (this.full(p.n * p.cout * p.oh * p.ow, 0) as GpuBuf)
        : this.runner.run(matmulSpec({ batch: p.n, m: p.cout, k: p.cin, n: p.h * p.w, transA: false, transB: false, broadcastA: true, broadcastB: false }), [wb, xb]);
    if (!bb) return y;
    try {
      const ohw = p.oh * p.ow;
      return this.binary('add', { buf: y, offset: 0, strides: [p.cout * ohw, ohw, 1] }, { buf: bb, offset: 0, strides: [0, 1, 0] }, [p.n, p.cout, ohw]);
    } finally {
      this.runner.free(y);
    }
  }
  conv2dBackwardBias(gy: Buf, p: Conv2dParams): Buf {
    const gb = asGpuBuf(gy, 'conv2dBackwardBias');
    if (p.n * p.oh * p.ow === 0) return this.full(p.cout, 0);
    return this.withTemporaries((temp) => this.runner.run(channelSumSpec(p.n, p.cout), [temp(this.reduce('sum', gb, p.n * p.cout, p.oh * p.ow))]));
  }
  /** x [planes, h, w] padded with zeros by (ph, pw): the stride-1 conv kernels read it without bounds tests. */
  private pad(x: GpuBuf, planes: number, h: number, w: number, ph: number, pw: number): GpuBuf {
    if (ph === 0 && pw === 0 && paddedPitch(w) === w) return x;
    return this.runner.run(pad2dSpec(planes, h, w, ph, pw), [x]);
  }
  conv2dBackwardInput(gy: Buf, w: Buf, p: Conv2dParams): Buf {
    const gb = asGpuBuf(gy, 'conv2dBackwardInput');
    const wb = asGpuBuf(w, 'conv2dBackwardInput');
    if (p.cout * p.oh * p.ow * p.kh * p.kw === 0) return this.full(p.n * p.cin * p.h * p.w, 0);
    if (p.kh === 1 && p.kw === 1 && p.strideH === 1 && p.strideW === 1 && p.padH === 0 && p.padW === 0) {
      // dx[b] = W^T [cin, cout] dy[b] [cout, h*w]
      return this.runner.run(matmulSpec({ batch: p.n, m: p.cin, k: p.cout, n: p.h * p.w, transA: true, transB: false, broadcastA: true, broadcastB: false }), [wb, gb]);
    }
    if (paddedBackwardInputApplies(p)) {
      const c = backwardInputPadded(p);
      const gp = this.pad(gb, p.n * p.cout, p.oh, p.ow, p.kh - 1 - p.padH, p.kw - 1 - p.padW);
      try {
        return this.runner.run(paddedConvSpec('conv2d.backwardInput', c), [gp, wb]);
      } finally {
        if (gp !== gb) this.runner.free(gp);
      }
    }
    // strided (or padded past the kernel): one kernel per output phase of dx, then interleaved
    const g = backwardInputPhaseGrid(p);
    return this.withTemporaries((temp) => {
      const gp = temp(this.runner.run(pad2dSpec(p.n * p.cout, p.oh, p.ow, g.mh - 1, g.mw - 1, g.hp, g.wp), [gb]));
      const phases: GpuBuf[] = [];
      for (let rh = 0; rh < p.strideH; rh++) {
        for (let rw = 0; rw < p.strideW; rw++) {
          const c = backwardInputPhase(p, rh, rw);
          phases.push(temp(c ? this.runner.run(paddedConvSpec('conv2d.backwardInput', c), [gp, wb]) : this.full(p.n * p.cin * g.qh * g.qw, 0)));
        }
      }
      return this.runner.run(interleavePhasesSpec(p.n * p.cin, p), phases);
    });
  }
  conv2dBackwardWeight(x: Buf, gy: Buf, p: Conv2dParams): Buf {
    const xb = asGpuBuf(x, 'conv2dBackwardWeight');
    const gb = asGpuBuf(gy, 'conv2dBackwardWeight');
    const size = p.cout * p.cin * p.kh * p.kw;
    if (p.n * p.oh * p.ow === 0) return this.full(size, 0);
    // dy to channels-last, then per batch slice partial sums over the padded input, then their sum
    const xp = this.pad(xb, p.n * p.cin, p.h, p.w, p.padH, p.padW);
    const gT = this.runner.run(channelsLastSpec(p.n, p.cout, p.oh * p.ow), [gb]);
    let partialsT: GpuBuf;
    try {
      partialsT = this.runner.run(conv2dBackwardWeightTSpec(p), [xp, gT, backwardWeightOffsets(p)]);
    } finally {
      if (xp !== xb) this.runner.free(xp);
      this.runner.free(gT);
    }
    try {
      return this.runner.run(sumSlicesTSpec(backwardWeightTSlices(p).slices, p.cin * p.kh * p.kw, p.cout), [partialsT]);
    } finally {
      this.runner.free(partialsT);
    }
  }
  upsampleNearest2d(x: Buf, p: UpsampleParams): Buf {
    return this.runner.run(upsampleNearestSpec(p), [asGpuBuf(x, 'upsampleNearest2d')]);
  }
  sumPool2d(x: Buf, p: PoolParams): Buf {
    return this.runner.run(sumPoolSpec(p), [asGpuBuf(x, 'sumPool2d')]);
  }
  pad2d(x: Buf, p: Pad2dParams): Buf {
    if (p.planes * p.outH * p.outW === 0) return this.full(0, 0);
    return this.runner.run(pad2dSpec(p.planes, p.h, p.w, p.top, p.left, p.outH, p.outW), [asGpuBuf(x, 'pad2d')]);
  }

  // ---- optimizer ----
  adamStep(param: Buf, grad: Buf, m: Buf, v: Buf, p: AdamParams): { param: Buf; m: Buf; v: Buf } {
    const [pb, gb, mb, vb] = [param, grad, m, v].map((b) => asGpuBuf(b, 'adamStep'));
    const wdL2 = p.decoupled ? 0 : p.weightDecay;
    const wdDecoupled = p.decoupled ? p.weightDecay : 0;
    // 1 - beta and lr * wd in float64 here: in float32, 1 - 0.999 is 1.3e-5 off
    const m2 = this.runner.run(adamMoment1Spec(p.size), [pb, gb, mb, p.beta1, 1 - p.beta1, wdL2]);
    const v2 = this.runner.run(adamMoment2Spec(p.size), [pb, gb, vb, p.beta2, 1 - p.beta2, wdL2]);
    const p2 = this.runner.run(adamParamSpec(p.size), [pb, m2, v2, p.lr, p.eps, p.biasCorrection1, p.biasCorrection2, p.lr * wdDecoupled]);
    return { param: p2, m: m2, v: v2 };
  }
}
