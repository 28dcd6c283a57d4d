/**
 * 2-D convolution (cross-correlation) and its two gradients, computed directly.
 *
 *   y[b, co, oy, ox]  = sum_{ci, ky, kx} x[b, ci, oy*sH - pH + ky, ox*sW - pW + kx] * w[co, ci, ky, kx]
 *   dx[b, ci, iy, ix] = sum_{co, ky, kx} dy[b, co, oy, ox] * w[co, ci, ky, kx]
 *                       over the (oy, ox) with oy*sH - pH + ky = iy and ox*sW - pW + kx = ix
 *   dw[co, ci, ky, kx] = sum_{b, oy, ox} x[b, ci, oy*sH - pH + ky, ox*sW - pW + kx] * dy[b, co, oy, ox]
 *
 * (x is 0 outside the image.) All three use the 4-row register tiles of tiles.ts over a
 * channel axis, on thread.y: the 4 channels share every read of the pixel operand, and the
 * weight (or dy) reads depend only on thread.y and loop counters, so on webasm a SIMD quad of
 * 4 pixels loads them once. Reads outside the image are moved to a real pixel and replaced
 * by 0 with a select (multiplying by 0 would turn an Inf next to the border into NaN).
 * Outside the image the read goes to the image's first pixel: `inside ? iy*w + ix : 0` ran
 * 30% faster on webasm than clamping iy and ix with Math.min/Math.max (1.95 against 1.5 GFLOP/s).
 *
 * Direct rather than im2col + matmul: measured on this machine (webasm, 8x32x28x28, 3x3,
 * 32 -> 32) direct ran at 2.45 GFLOP/s, im2col + tiled matmul at 1.8, and im2col needs a
 * [cin*kh*kw, batch*oh*ow] buffer (43M floats for the 96-channel 28x28 layer at batch 64,
 * past the 2^24 that float32 index math can address exactly).
 */
import type { Conv2dParams } from '../src/backend/backend';
import type { KernelSpec, KernelThis } from './kernel';

type ConvConstants = {
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  oh: number;
  ow: number;
  /** h * w, oh * ow, kh * kw, cin * kh * kw */
  hw: number;
  ohw: number;
  khw: number;
  ckk: number;
  /** images per thread.z slice (conv2dBackwardWeight) */
  batchPerSplit: number;
  n: number;
};

function convConstants(p: Conv2dParams): ConvConstants {
  return {
    cin: p.cin, h: p.h, w: p.w, cout: p.cout, kh: p.kh, kw: p.kw, sh: p.strideH, sw: p.strideW, ph: p.padH, pw: p.padW, oh: p.oh, ow: p.ow,
    hw: p.h * p.w, ohw: p.oh * p.ow, khw: p.kh * p.kw, ckk: p.cin * p.kh * p.kw, batchPerSplit: 0, n: p.n,
  };
}

/** Thread (x, y, z) = (output pixel oy*ow + ox, output-channel tile, image). */
function conv2dForward(this: KernelThis<ConvConstants>, x: Float32Array, w: Float32Array): number[] {
  const pixel = this.thread.x;
  let oy = Math.floor((pixel + 0.5) / this.constants.ow);
  if (pixel - oy * this.constants.ow < 0) {
    oy = oy - 1;
  }
  if (pixel - oy * this.constants.ow >= this.constants.ow) {
    oy = oy + 1;
  }
  const ox = pixel - oy * this.constants.ow;
  const co0 = this.thread.y * 4;
  const w0 = co0 * this.constants.ckk;
  const w1 = Math.min(co0 + 1, this.constants.cout - 1) * this.constants.ckk;
  const w2 = Math.min(co0 + 2, this.constants.cout - 1) * this.constants.ckk;
  const w3 = Math.min(co0 + 3, this.constants.cout - 1) * this.constants.ckk;
  const image = this.thread.z * this.constants.cin * this.constants.hw;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let ky = 0; ky < this.constants.kh; ky++) {
    const iy = oy * this.constants.sh - this.constants.ph + ky;
    for (let kx = 0; kx < this.constants.kw; kx++) {
      const ix = ox * this.constants.sw - this.constants.pw + kx;
      const inside = iy >= 0 && iy < this.constants.h && ix >= 0 && ix < this.constants.w ? 1 : 0;
      const at = image + (inside > 0 ? iy * this.constants.w + ix : 0);
      const tap = ky * this.constants.kw + kx;
      for (let ci = 0; ci < this.constants.cin; ci++) {
        const v = inside > 0 ? x[at + ci * this.constants.hw] : 0;
        const wAt = ci * this.constants.khw + tap;
        s0 += v * w[w0 + wAt];
        s1 += v * w[w1 + wAt];
        s2 += v * w[w2 + wAt];
        s3 += v * w[w3 + wAt];
      }
    }
  }
  return [s0, s1, s2, s3];
}

/**
 * Thread (x, y, z) = (input pixel iy*w + ix, input-channel tile, image). The output pixel that
 * tap (ky, kx) maps onto (iy, ix) is oy = (iy + pH - ky) / sH, when that divides exactly and
 * lands inside dy. (Small integers: the float division is exact enough without correction.)
 */
function conv2dBackwardInput(this: KernelThis<ConvConstants>, gy: Float32Array, w: Float32Array): number[] {
  const pixel = this.thread.x;
  let iy = Math.floor((pixel + 0.5) / this.constants.w);
  if (pixel - iy * this.constants.w < 0) {
    iy = iy - 1;
  }
  if (pixel - iy * this.constants.w >= this.constants.w) {
    iy = iy + 1;
  }
  const ix = pixel - iy * this.constants.w;
  const ci0 = this.thread.y * 4;
  const c0 = ci0 * this.constants.khw;
  const c1 = Math.min(ci0 + 1, this.constants.cin - 1) * this.constants.khw;
  const c2 = Math.min(ci0 + 2, this.constants.cin - 1) * this.constants.khw;
  const c3 = Math.min(ci0 + 3, this.constants.cin - 1) * this.constants.khw;
  const image = this.thread.z * this.constants.cout * this.constants.ohw;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let ky = 0; ky < this.constants.kh; ky++) {
    const ty = iy + this.constants.ph - ky;
    const oy = Math.floor((ty + 0.5) / this.constants.sh);
    for (let kx = 0; kx < this.constants.kw; kx++) {
      const tx = ix + this.constants.pw - kx;
      const ox = Math.floor((tx + 0.5) / this.constants.sw);
      const hit = ty >= 0 && oy * this.constants.sh == ty && oy < this.constants.oh && tx >= 0 && ox * this.constants.sw == tx && ox < this.constants.ow ? 1 : 0;
      const at = image + (hit > 0 ? oy * this.constants.ow + ox : 0);
      const tap = ky * this.constants.kw + kx;
      for (let co = 0; co < this.constants.cout; co++) {
        const g = hit > 0 ? gy[at + co * this.constants.ohw] : 0;
        const wAt = co * this.constants.ckk + tap;
        s0 += g * w[wAt + c0];
        s1 += g * w[wAt + c1];
        s2 += g * w[wAt + c2];
        s3 += g * w[wAt + c3];
      }
    }
  }
  return [s0, s1, s2, s3];
}

/**
 * Thread (x, y, z) = (weight column ci*kh*kw + ky*kw + kx, output-channel tile, batch slice).
 * Slice z sums images [z * batchPerSplit, (z + 1) * batchPerSplit); the backend adds the slices
 * (sumSlices). Each image's sum is formed first and then added, so a float32 sum over
 * batch * oh * ow terms rounds about oh*ow + batch times per term, not batch*oh*ow.
 */
function conv2dBackwardWeight(this: KernelThis<ConvConstants>, x: Float32Array, gy: Float32Array): number[] {
  const col = this.thread.x;
  let ci = Math.floor((col + 0.5) / this.constants.khw);
  if (col - ci * this.constants.khw < 0) {
    ci = ci - 1;
  }
  if (col - ci * this.constants.khw >= this.constants.khw) {
    ci = ci + 1;
  }
  const tap = col - ci * this.constants.khw;
  const ky = Math.floor((tap + 0.5) / this.constants.kw);
  const kx = tap - ky * this.constants.kw;
  const co0 = this.thread.y * 4;
  const g0 = co0 * this.constants.ohw;
  const g1 = Math.min(co0 + 1, this.constants.cout - 1) * this.constants.ohw;
  const g2 = Math.min(co0 + 2, this.constants.cout - 1) * this.constants.ohw;
  const g3 = Math.min(co0 + 3, this.constants.cout - 1) * this.constants.ohw;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let bb = 0; bb < this.constants.batchPerSplit; bb++) {
    const b = this.thread.z * this.constants.batchPerSplit + bb;
    if (b < this.constants.n) {
      const image = (b * this.constants.cin + ci) * this.constants.hw;
      const gyImage = b * this.constants.cout * this.constants.ohw;
      let p0 = 0;
      let p1 = 0;
      let p2 = 0;
      let p3 = 0;
      for (let oy = 0; oy < this.constants.oh; oy++) {
        const iy = oy * this.constants.sh - this.constants.ph + ky;
        const rowInside = iy >= 0 && iy < this.constants.h ? 1 : 0;
        for (let ox = 0; ox < this.constants.ow; ox++) {
          const ix = ox * this.constants.sw - this.constants.pw + kx;
          const inside = rowInside > 0 && ix >= 0 && ix < this.constants.w ? 1 : 0;
          const v = inside > 0 ? x[image + (inside > 0 ? iy * this.constants.w + ix : 0)] : 0;
          const g = gyImage + oy * this.constants.ow + ox;
          p0 += v * gy[g + g0];
          p1 += v * gy[g + g1];
          p2 += v * gy[g + g2];
          p3 += v * gy[g + g3];
        }
      }
      s0 += p0;
      s1 += p1;
      s2 += p2;
      s3 += p3;
    }
  }
  return [s0, s1, s2, s3];
}

/** out[i] = sum_s slices[s * size + i]: adds the per-slice partial weight gradients. */
function sumSlices(this: KernelThis<{ slices: number; size: number }>, partials: Float32Array): number {
  let s = 0;
  for (let k = 0; k < this.constants.slices; k++) {
    s += partials[k * this.constants.size + this.thread.x];
  }
  return s;
}

/** Called with (x, w). */
export function conv2dForwardSpec(p: Conv2dParams): KernelSpec {
  return { name: 'conv2d.forward', source: conv2dForward, output: [p.oh * p.ow, Math.ceil(p.cout / 4), p.n], constants: convConstants(p), tile4: { rows: p.cout } };
}

/** Called with (gy, w). */
export function conv2dBackwardInputSpec(p: Conv2dParams): KernelSpec {
  return { name: 'conv2d.backwardInput', source: conv2dBackwardInput, output: [p.h * p.w, Math.ceil(p.cin / 4), p.n], constants: convConstants(p), tile4: { rows: p.cin } };
}

/**
 * conv2dBackwardWeight splits the batch sum into at most 8 slices: a GPU needs more threads
 * than cout/4 * cin*kh*kw, and the CPU modes lose little by it.
 */
export function backwardWeightSlices(n: number): { slices: number; batchPerSplit: number } {
  const batchPerSplit = Math.ceil(n / Math.min(n, 8));
  return { slices: Math.ceil(n / batchPerSplit), batchPerSplit };
}

/** Called with (x, gy); gives [slices, cout, cin*kh*kw] partial sums. */
export function conv2dBackwardWeightSpec(p: Conv2dParams): KernelSpec {
  const { slices, batchPerSplit } = backwardWeightSlices(p.n);
  const constants = { ...convConstants(p), batchPerSplit };
  return { name: 'conv2d.backwardWeight', source: conv2dBackwardWeight, output: [p.cin * p.kh * p.kw, Math.ceil(p.cout / 4), slices], constants, tile4: { rows: p.cout } };
}

/** Called with (partials). */
export function sumSlicesSpec(slices: number, size: number): KernelSpec {
  return { name: 'conv2d.sumSlices', source: sumSlices, output: [size], constants: { slices, size } };
}
