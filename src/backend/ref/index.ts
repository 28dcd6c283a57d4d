/**
 * The reference backend: plain TypeScript loops over Float32Array, written to be read.
 * It defines what every op means; every other backend is tested against it.
 */
import type { AdamParams, Backend, Buf, Conv2dParams, GroupNormParams, MatmulParams, Pad2dParams, PoolParams, ReduceOp, StridedView, UnaryOp, UpsampleParams, BinaryOp } from '../backend';
import * as elementwise from './elementwise';
import * as reductions from './reduce';
import { matmul } from './matmul';
import * as conv from './conv';
import * as norm from './norm';

const f32 = (b: Buf) => b as Float32Array;

export class RefBackend implements Backend {
  readonly name = 'ref';

  fromArray(data: Float32Array): Buf {
    return Float32Array.from(data);
  }
  toArray(buf: Buf, size: number): Float32Array {
    return f32(buf).slice(0, size);
  }
  full(size: number, value: number): Buf {
    return new Float32Array(size).fill(value);
  }
  copyStrided(src: StridedView, shape: number[]): Buf {
    return elementwise.copyStrided(src, shape);
  }
  concat(parts: Buf[], widths: number[], outer: number): Buf {
    const total = widths.reduce((a, b) => a + b, 0);
    const out = new Float32Array(outer * total);
    for (let o = 0; o < outer; o++) {
      let col = 0;
      parts.forEach((part, p) => {
        out.set(f32(part).subarray(o * widths[p], (o + 1) * widths[p]), o * total + col);
        col += widths[p];
      });
    }
    return out;
  }
  unary(op: UnaryOp, x: Buf, size: number, a?: number, b?: number): Buf {
    return elementwise.unary(op, f32(x), size, a, b);
  }
  binary(op: BinaryOp, a: StridedView, b: StridedView, shape: number[]): Buf {
    return elementwise.binary(op, a, b, shape);
  }
  where(cond: StridedView, a: StridedView, b: StridedView, shape: number[]): Buf {
    return elementwise.where(cond, a, b, shape);
  }
  reduce(op: ReduceOp, x: Buf, outer: number, n: number): Buf {
    return reductions.reduce(op, f32(x), outer, n);
  }
  softmax(x: Buf, outer: number, n: number): Buf {
    return reductions.softmax(f32(x), outer, n);
  }
  matmul(a: Buf, b: Buf, p: MatmulParams): Buf {
    return matmul(f32(a), f32(b), p);
  }
  conv2d(x: Buf, w: Buf, p: Conv2dParams, bias?: Buf): Buf {
    return conv.conv2d(f32(x), f32(w), p, bias === undefined ? undefined : f32(bias));
  }
  conv2dBackwardBias(gy: Buf, p: Conv2dParams): Buf {
    return conv.conv2dBackwardBias(f32(gy), p);
  }
  conv2dBackwardInput(gy: Buf, w: Buf, p: Conv2dParams): Buf {
    return conv.conv2dBackwardInput(f32(gy), f32(w), p);
  }
  conv2dBackwardWeight(x: Buf, gy: Buf, p: Conv2dParams): Buf {
    return conv.conv2dBackwardWeight(f32(x), f32(gy), p);
  }
  upsampleNearest2d(x: Buf, p: UpsampleParams): Buf {
    return conv.upsampleNearest2d(f32(x), p);
  }
  sumPool2d(x: Buf, p: PoolParams): Buf {
    return conv.sumPool2d(f32(x), p);
  }
  pad2d(x: Buf, p: Pad2dParams): Buf {
    return conv.pad2d(f32(x), p);
  }
  groupNormForward(x: Buf, weight: Buf, bias: Buf, p: GroupNormParams): { y: Buf; mean: Buf; rstd: Buf } {
    return norm.groupNormForward(f32(x), f32(weight), f32(bias), p);
  }
  groupNormBackward(gy: Buf, x: Buf, mean: Buf, rstd: Buf, weight: Buf, p: GroupNormParams): { gx: Buf; gweight: Buf; gbias: Buf } {
    return norm.groupNormBackward(f32(gy), f32(x), f32(mean), f32(rstd), f32(weight), p);
  }
  adamStep(param: Buf, grad: Buf, m: Buf, v: Buf, p: AdamParams): { param: Buf; m: Buf; v: Buf } {
    const P = f32(param), G = f32(grad), M = f32(m), V = f32(v);
    const np = new Float32Array(p.size), nm = new Float32Array(p.size), nv = new Float32Array(p.size);
    for (let i = 0; i < p.size; i++) {
      let g = G[i];
      let w = P[i];
      if (p.weightDecay !== 0) {
        if (p.decoupled) w -= p.lr * p.weightDecay * w; // AdamW: decay the weight itself
        else g += p.weightDecay * w; // Adam: L2 penalty folded into the gradient
      }
      nm[i] = p.beta1 * M[i] + (1 - p.beta1) * g;
      nv[i] = p.beta2 * V[i] + (1 - p.beta2) * g * g;
      const mHat = nm[i] / p.biasCorrection1;
      const vHat = nv[i] / p.biasCorrection2;
      np[i] = w - (p.lr * mHat) / (Math.sqrt(vHat) + p.eps);
    }
    return { param: np, m: nm, v: nv };
  }
}
