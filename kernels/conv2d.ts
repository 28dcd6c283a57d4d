/**
 * 2-D convolution (cross-correlation) and its two gradients, computed directly.
 *
 *   y[b, co, oy, ox]  = sum_{ci, ky, kx} x[b, ci, oy*sH - pH + ky, ox*sW - pW + kx] * w[co, ci, ky, kx]
 *   dx[b, ci, iy, ix] = sum_{co, ky, kx} dy[b, co, oy, ox] * w[co, ci, ky, kx]
 *                       over the (oy, ox) with oy*sH - pH + ky = iy and ox*sW - pW + kx = ix
 *   dw[co, ci, ky, kx] = sum_{b, oy, ox} x[b, ci, oy*sH - pH + ky, ox*sW - pW + kx] * dy[b, co, oy, ox]
 *
 * (x is 0 outside the image.) The forward and input-gradient kernels use the 4-row register
 * tiles of tiles.ts over a channel axis, on thread.y: the 4 channels share every read of the
 * pixel operand, and the weight reads depend only on thread.y and loop counters, so on webasm
 * a SIMD quad of 4 pixels loads them once. The weight gradient (conv2dBackwardWeightT, further
 * down) tiles 4 weight columns the same way, over a channels-last dy. Reads outside the image are moved to a real pixel and replaced
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
import { floorDivSource, type KernelSpec, type KernelThis } from './kernel';

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
  n: number;
};

function convConstants(p: Conv2dParams): ConvConstants {
  return {
    cin: p.cin, h: p.h, w: p.w, cout: p.cout, kh: p.kh, kw: p.kw, sh: p.strideH, sw: p.strideW, ph: p.padH, pw: p.padW, oh: p.oh, ow: p.ow,
    hw: p.h * p.w, ohw: p.oh * p.ow, khw: p.kh * p.kw, ckk: p.cin * p.kh * p.kw, n: p.n,
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

/** Called with (x, w). */
export function conv2dForwardSpec(p: Conv2dParams): KernelSpec {
  return { name: 'conv2d.forward', source: conv2dForward, output: [p.oh * p.ow, Math.ceil(p.cout / 4), p.n], constants: convConstants(p), tile4: { rows: p.cout } };
}

/** Called with (gy, w). */
export function conv2dBackwardInputSpec(p: Conv2dParams): KernelSpec {
  return { name: 'conv2d.backwardInput', source: conv2dBackwardInput, output: [p.h * p.w, Math.ceil(p.cin / 4), p.n], constants: convConstants(p), tile4: { rows: p.cin } };
}

// ---------------------------------------------------------------------------------------------
// Stride-1 convolutions on a padded input, written for vector code (issue 7).
//
// The input is padded once per call (pad2d): xp [planes, hp, wp], zeros around the image, so
// the kernels need no bounds tests. A thread's x is its position on the padded row grid,
// p = oy * wp + ox (ox < ow real, ox >= ow junk columns the layout step drops), so tap (ky, kx)
// of a channel reads xp[p + channel base + ky * wp + kx]: on webasm the 4 lanes of a SIMD quad
// read 4 consecutive floats, which the patched code generator (src/backend/gpujs/
// webasm-codegen-patch.ts) emits as one v128.load; the weights depend only on thread.y, z and
// the channel loop, so they are splat loads shared by the quad. The x grid ends at the last
// real cell, (oh - 1) * wp + ow, so the last tap of the last cell reads the last padded float:
// every read is inside xp. The taps are unrolled into the source (one template per kernel
// size, padded width and weight order), with their offsets as literals.
//
// Backward-input is the same kernel: dx is the full correlation of dy, padded by
// (kh - 1 - ph, kw - 1 - pw), with the weights flipped and cin/cout swapped.
// Backward-weight puts the output channel on thread.x, reading dy transposed to
// [n, oh * ow, cout] (4 consecutive channels: one vector load) and the padded input as splats,
// 4 weight columns (ci, ky, kx) per thread; sumSlicesT adds the batch slices and transposes
// [ckk, cout] back to [cout, ckk].
// ---------------------------------------------------------------------------------------------

/**
 * Output [wp, hp, planes]: xp[z][y][x] = x[z][(y - ph) / sh][(x - pw) / sw] where both divide
 * exactly and land inside x, else 0: zero padding (sh = sw = 1), or the zero-dilated,
 * padded dy of a strided conv's backward-input. (Small integers: a float division by sh is
 * exact enough to test.)
 */
function pad2d(this: KernelThis<{ h: number; w: number; ph: number; pw: number; sh: number; sw: number; hw: number }>, x: Float32Array): number {
  const tx = this.thread.x - this.constants.pw;
  const ty = this.thread.y - this.constants.ph;
  const ix = Math.floor((tx + 0.5) / this.constants.sw);
  const iy = Math.floor((ty + 0.5) / this.constants.sh);
  const inside = tx >= 0 && ty >= 0 && ix * this.constants.sw == tx && iy * this.constants.sh == ty && ix < this.constants.w && iy < this.constants.h ? 1 : 0;
  return inside > 0 ? x[this.thread.z * this.constants.hw + (inside > 0 ? iy * this.constants.w + ix : 0)] : 0;
}

/**
 * The row pitch of a padded plane whose rows hold `width` floats: the next multiple of 4 when
 * that adds at most 10% (28 + 2 -> 32; 7 + 2 stays 9), else `width`; the extra columns are zeros.
 * On webasm a kernel whose rows are a multiple of 4 wide runs as one SIMD span; any other
 * width costs two calls into WebAssembly per row (a SIMD span and a scalar tail), which is
 * most of the time of a padding copy.
 */
export function paddedPitch(width: number): number {
  const aligned = Math.ceil(width / 4) * 4;
  return (aligned - width) * 10 <= width ? aligned : width;
}

/** Called with (x [planes, h, w]); gives [planes, hp, wp]: x dilated by (sh, sw) at offset (ph, pw). */
export function pad2dSpec(planes: number, h: number, w: number, ph: number, pw: number, hp = h + 2 * ph, wp = paddedPitch(w + 2 * pw), sh = 1, sw = 1): KernelSpec {
  const source = sh === 1 && sw === 1 ? zeroPad2d : pad2d;
  return { name: 'conv2d.pad', source, output: [wp, hp, planes], constants: { h, w, ph, pw, sh, sw, hw: h * w } };
}

/**
 * pad2d without dilation: no divisions. Inside the image rows (a branch every lane of a webasm
 * SIMD quad agrees on) the read is `x[this.thread.x + row start - pw]`, one vector load of 4
 * consecutive floats; lanes in the left and right padding read a neighbour (or a few floats
 * past the end of x, on the last row) and are replaced by 0. The first row of the first plane,
 * where that start is negative, reads lane by lane.
 */
function zeroPad2d(this: KernelThis<{ h: number; w: number; ph: number; pw: number; hw: number }>, x: Float32Array): number {
  const ix = this.thread.x - this.constants.pw;
  const iy = this.thread.y - this.constants.ph;
  const rowInside = iy >= 0 && iy < this.constants.h ? 1 : 0;
  const start = this.thread.z * this.constants.hw + iy * this.constants.w - this.constants.pw;
  let v = 0;
  if (rowInside > 0 && start >= 0) {
    v = x[this.thread.x + start];
  } else if (rowInside > 0) {
    v = x[start + this.constants.pw + (ix >= 0 ? ix : 0)];
  }
  return ix >= 0 && ix < this.constants.w ? v : 0;
}

export interface PaddedConv {
  n: number;
  /** channels summed over, and channels produced */
  cin: number;
  cout: number;
  /** padded input plane */
  hp: number;
  wp: number;
  kh: number;
  kw: number;
  /** output rows and real columns */
  oh: number;
  ow: number;
  /** weight element of (out channel o, in channel i, tap t): o * wOut + i * wIn + t' */
  wOut: number;
  wIn: number;
  /** t' = ky * kw + kx, or flipped: (kh - 1 - ky) * kw + (kw - 1 - kx) */
  flip: boolean;
  /** a third argument, bias [cout], added to each output channel (it starts the channel's sum) */
  bias?: boolean;
}

function paddedConvSource(c: PaddedConv): string {
  const taps: string[] = [];
  for (let ky = 0; ky < c.kh; ky++) {
    const xs: string[] = [];
    for (let kx = 0; kx < c.kw; kx++) {
      const k = ky * c.kw + kx;
      const xoff = ky * c.wp + kx;
      taps.push(`    const x${k} = xp[this.thread.x + xc${xoff > 0 ? ` + ${xoff}` : ''}];`);
      xs.push(String(k));
    }
    for (const k of xs) {
      const kk = Number(k);
      const t = c.flip ? c.kh * c.kw - 1 - kk : kk;
      // even taps into s, odd into u: two independent chains of multiply-adds per channel
      for (let r = 0; r < 4; r++) taps.push(`    ${kk % 2 ? 'u' : 's'}${r} += w[a${r}${t > 0 ? ` + ${t}` : ''}] * x${k};`);
    }
  }
  // the bias starts the sums: nothing more stays live through the channel loop
  const sums = [0, 1, 2, 3].map((r) => `  let s${r} = ${c.bias ? `bias[c${r}]` : '0'};`).join('\n');
  return `function conv2dPadded(xp, w${c.bias ? ', bias' : ''}) {
  const c0 = this.thread.y * 4;
  const c1 = c0 + 1 < this.constants.cout ? c0 + 1 : this.constants.coutLast;
  const c2 = c0 + 2 < this.constants.cout ? c0 + 2 : this.constants.coutLast;
  const c3 = c0 + 3 < this.constants.cout ? c0 + 3 : this.constants.coutLast;
  const w0 = c0 * this.constants.wOut;
  const w1 = c1 * this.constants.wOut;
  const w2 = c2 * this.constants.wOut;
  const w3 = c3 * this.constants.wOut;
  const img = this.thread.z * this.constants.imgStride;
${sums}
  let u0 = 0;
  let u1 = 0;
  let u2 = 0;
  let u3 = 0;
  for (let ci = 0; ci < this.constants.cin; ci++) {
    const xc = img + ci * this.constants.hpwp;
    const wc = ci * this.constants.wIn;
    const a0 = wc + w0;
    const a1 = wc + w1;
    const a2 = wc + w2;
    const a3 = wc + w3;
${taps.join('\n')}
  }
  return [s0 + u0, s1 + u1, s2 + u2, s3 + u3];
}`;
}

/** Called with (xp, w), or (xp, w, bias) for a PaddedConv with bias; a tile grid over the padded rows (tile4.pitch), see tiles.ts. */
export function paddedConvSpec(name: string, c: PaddedConv): KernelSpec {
  const x = (c.oh - 1) * c.wp + c.ow;
  return {
    name,
    source: paddedConvSource(c),
    output: [x, Math.ceil(c.cout / 4), c.n],
    constants: {
      cin: c.cin, cout: c.cout, coutLast: c.cout - 1, hpwp: c.hp * c.wp, imgStride: c.cin * c.hp * c.wp, wOut: c.wOut, wIn: c.wIn,
      // baked into the source as literals; here for the cache key
      wp: c.wp, kh: c.kh, kw: c.kw, flip: c.flip ? 1 : 0, bias: c.bias ? 1 : 0,
    },
    tile4: { rows: c.cout, width: c.ow, pitch: c.wp },
  };
}

/** The stride-1 forward conv as a PaddedConv over x padded by (ph, pw). */
export function forwardPadded(p: Conv2dParams): PaddedConv {
  return { n: p.n, cin: p.cin, cout: p.cout, hp: p.h + 2 * p.padH, wp: paddedPitch(p.w + 2 * p.padW), kh: p.kh, kw: p.kw, oh: p.oh, ow: p.ow, wOut: p.cin * p.kh * p.kw, wIn: p.kh * p.kw, flip: false };
}

/**
 * The backward-input conv (any stride): dy dilated by the stride and padded by
 * (kh - 1 - ph, kw - 1 - pw) to [h + kh - 1, w + kw - 1] (pad2dSpec), weights flipped,
 * channels swapped: dx[iy, ix] = sum_{co, ky', kx'} dp[iy + ky', ix + kx'] w[co, ci, kh-1-ky', kw-1-kx'].
 */
export function backwardInputPadded(p: Conv2dParams): PaddedConv {
  return { n: p.n, cin: p.cout, cout: p.cin, hp: p.h + p.kh - 1, wp: paddedPitch(p.w + p.kw - 1), kh: p.kh, kw: p.kw, oh: p.h, ow: p.w, wOut: p.kh * p.kw, wIn: p.cin * p.kh * p.kw, flip: true };
}

/** Whether the padded forward kernel applies: stride 1. */
export function paddedForwardApplies(p: Conv2dParams): boolean {
  return p.strideH === 1 && p.strideW === 1 && p.oh > 0 && p.ow > 0;
}

/** Whether the padded backward-input kernel applies: padding below the kernel size (dy is padded by kh - 1 - ph). */
export function paddedBackwardInputApplies(p: Conv2dParams): boolean {
  return p.padH <= p.kh - 1 && p.padW <= p.kw - 1 && p.oh > 0 && p.ow > 0;
}

type WeightTConstants = {
  n: number;
  cout: number;
  oh: number;
  ow: number;
  wp: number;
  batchPerSplit: number;
  /** sh * wp, sw: steps of the input window per output row and column */
  rowStep: number;
  colStep: number;
  /** cin * hp * wp, oh * ow * cout, ow * cout */
  xImage: number;
  gImage: number;
  gRow: number;
};

/**
 * Thread (x, y, z) = (output channel co, tile of 4 weight columns r = ci*kh*kw + ky*kw + kx,
 * batch slice). offs[r] is where column r's window starts in an image of xp:
 * ci * hp * wp + ky * wp + kx (clamped to the last column for the tile past ckk).
 */
function conv2dBackwardWeightT(this: KernelThis<WeightTConstants>, xp: Float32Array, gyT: Float32Array, offs: Float32Array): number[] {
  const r0 = this.thread.y * 4;
  const o0 = Math.floor(offs[r0]);
  const o1 = Math.floor(offs[r0 + 1]);
  const o2 = Math.floor(offs[r0 + 2]);
  const o3 = Math.floor(offs[r0 + 3]);
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let bb = 0; bb < this.constants.batchPerSplit; bb++) {
    const b = this.thread.z * this.constants.batchPerSplit + bb;
    if (b < this.constants.n) {
      const xi = b * this.constants.xImage;
      const gi = b * this.constants.gImage;
      let p0 = 0;
      let p1 = 0;
      let p2 = 0;
      let p3 = 0;
      for (let oy = 0; oy < this.constants.oh; oy++) {
        const xr = xi + oy * this.constants.rowStep;
        const gr = gi + oy * this.constants.gRow;
        for (let ox = 0; ox < this.constants.ow; ox++) {
          const g = gyT[this.thread.x + gr + ox * this.constants.cout];
          const xa = xr + ox * this.constants.colStep;
          p0 += xp[o0 + xa] * g;
          p1 += xp[o1 + xa] * g;
          p2 += xp[o2 + xa] * g;
          p3 += xp[o3 + xa] * g;
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

/**
 * Slices for conv2dBackwardWeightT: about 784 output positions per slice (one 28x28 image, 4 of
 * 14x14, 16 of 7x7), so a slice's dy and input, about 100-200 KB at unet-tiny sizes, stay in
 * cache while every column tile of that slice reads them (8 images of 28x28 per slice ran 4x
 * slower at batch 64), unless the partial sums would pass 4M floats.
 */
export function backwardWeightTSlices(p: Conv2dParams): { slices: number; batchPerSplit: number } {
  const size = p.cout * p.cin * p.kh * p.kw;
  // at least ~784 positions per slice (small images: several per slice, fewer partial sums)
  const byPositions = Math.max(1, Math.floor(784 / Math.max(1, p.oh * p.ow)));
  const batchPerSplit = Math.min(p.n, Math.max(byPositions, Math.ceil((p.n * size) / (1 << 22))));
  return { slices: Math.ceil(p.n / batchPerSplit), batchPerSplit };
}

/** Output rows up to this wide get conv2dBackwardWeightT with its ox loop unrolled. */
const UNROLL_OW = 32;

/**
 * conv2dBackwardWeightT with the ox loop unrolled into the source (ow, cout and the column step
 * as literals): no loop counter, compare and branch per output position, and every offset a
 * constant folded into the load (measured 1.3-1.6x on the unet-tiny sizes).
 */
function backwardWeightTUnrolled(ow: number, cout: number, colStep: number): string {
  const steps: string[] = [];
  for (let ox = 0; ox < ow; ox++) {
    const g = ox * cout;
    const xo = ox * colStep;
    steps.push(`        const g${ox} = gyT[this.thread.x + gr${g > 0 ? ` + ${g}` : ''}];`);
    for (let r = 0; r < 4; r++) steps.push(`        p${r} += xp[o${r} + xr${xo > 0 ? ` + ${xo}` : ''}] * g${ox};`);
  }
  return `function conv2dBackwardWeightT(xp, gyT, offs) {
  const r0 = this.thread.y * 4;
  const o0 = Math.floor(offs[r0]);
  const o1 = Math.floor(offs[r0 + 1]);
  const o2 = Math.floor(offs[r0 + 2]);
  const o3 = Math.floor(offs[r0 + 3]);
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let bb = 0; bb < this.constants.batchPerSplit; bb++) {
    const b = this.thread.z * this.constants.batchPerSplit + bb;
    if (b < this.constants.n) {
      const xi = b * this.constants.xImage;
      const gi = b * this.constants.gImage;
      let p0 = 0;
      let p1 = 0;
      let p2 = 0;
      let p3 = 0;
      for (let oy = 0; oy < this.constants.oh; oy++) {
        const xr = xi + oy * this.constants.rowStep;
        const gr = gi + oy * this.constants.gRow;
${steps.join('\n')}
      }
      s0 += p0;
      s1 += p1;
      s2 += p2;
      s3 += p3;
    }
  }
  return [s0, s1, s2, s3];
}`;
}

/** Called with (xp, gyT, offs); gives [slices, ckk, cout] partial sums. */
export function conv2dBackwardWeightTSpec(p: Conv2dParams): KernelSpec {
  const { slices, batchPerSplit } = backwardWeightTSlices(p);
  const hp = p.h + 2 * p.padH;
  const wp = paddedPitch(p.w + 2 * p.padW);
  const ckk = p.cin * p.kh * p.kw;
  const constants: WeightTConstants = { n: p.n, cout: p.cout, oh: p.oh, ow: p.ow, wp, batchPerSplit, rowStep: p.strideH * wp, colStep: p.strideW, xImage: p.cin * hp * wp, gImage: p.oh * p.ow * p.cout, gRow: p.ow * p.cout };
  const source = p.ow <= UNROLL_OW ? backwardWeightTUnrolled(p.ow, p.cout, p.strideW) : conv2dBackwardWeightT;
  return { name: 'conv2d.backwardWeight', source, output: [p.cout, Math.ceil(ckk / 4), slices], constants, tile4: { rows: ckk }, nonNegative: ['offs'] };
}

/** offs for conv2dBackwardWeightT: ceil(ckk / 4) * 4 window starts. */
export function backwardWeightOffsets(p: Conv2dParams): Float32Array {
  const ckk = p.cin * p.kh * p.kw;
  const hp = p.h + 2 * p.padH;
  const wp = paddedPitch(p.w + 2 * p.padW);
  const offs = new Float32Array(Math.ceil(ckk / 4) * 4);
  for (let r = 0; r < offs.length; r++) {
    const c = Math.min(r, ckk - 1);
    const ci = Math.floor(c / (p.kh * p.kw));
    const t = c - ci * p.kh * p.kw;
    const ky = Math.floor(t / p.kw);
    offs[r] = ci * hp * wp + ky * wp + (t - ky * p.kw);
  }
  return offs;
}

/**
 * out[co * ckk + r] = sum_s partials[s][r][co]: adds the slices and transposes [ckk, cout] to
 * [cout, ckk]. A 1-D output like every buffer that leaves a backend op (a 2-D GL texture would
 * read back nested and mismatch the next kernel's argument type).
 */
function sumSlicesTSource(): string {
  return `function sumSlicesT(partials) {
  const t = this.thread.x;
  ${floorDivSource('co', 't', 'this.constants.ckk')}
  const r = t - co * this.constants.ckk;
  let s = 0;
  for (let k = 0; k < this.constants.slices; k++) {
    s += partials[k * this.constants.size + r * this.constants.cout + co];
  }
  return s;
}`;
}

/** Called with (partials [slices, ckk, cout]); gives [cout, ckk]. */
export function sumSlicesTSpec(slices: number, ckk: number, cout: number): KernelSpec {
  return { name: 'conv2d.sumSlicesT', source: sumSlicesTSource(), output: [ckk * cout], constants: { slices, size: ckk * cout, cout, ckk } };
}

/** Output [c, hw, n]: t[b][p][ch] = x[b][ch][p] (dy transposed for conv2dBackwardWeightT). */
function channelsLast(this: KernelThis<{ c: number; hw: number }>, x: Float32Array): number {
  return x[(this.thread.z * this.constants.c + this.thread.x) * this.constants.hw + this.thread.y];
}

/** Called with (x [n, c, hw]); gives [n, hw, c]. */
export function channelsLastSpec(n: number, c: number, hw: number): KernelSpec {
  return { name: 'conv2d.channelsLast', source: channelsLast, output: [c, hw, n], constants: { c, hw } };
}
