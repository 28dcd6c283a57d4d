/**
 * 2-D convolution (cross-correlation) and its two gradients, computed directly.
 *
 *   y[b, co, oy, ox]  = sum_{ci, ky, kx} x[b, ci, oy*sH - pH + ky, ox*sW - pW + kx] * w[co, ci, ky, kx]
 *   dx[b, ci, iy, ix] = sum_{co, ky, kx} dy[b, co, oy, ox] * w[co, ci, ky, kx]
 *                       over the (oy, ox) with oy*sH - pH + ky = iy and ox*sW - pW + kx = ix
 *   dw[co, ci, ky, kx] = sum_{b, oy, ox} x[b, ci, oy*sH - pH + ky, ox*sW - pW + kx] * dy[b, co, oy, ox]
 *
 * (x is 0 outside the image.) Every form is one template, a stride-1 correlation over a
 * zero-padded input with its taps unrolled (paddedConvSource, below): the forward conv of
 * stride 1 as it is, a strided forward conv on its input split into stride phases, and every
 * backward-input conv one output phase at a time. The forward and input-gradient kernels use
 * the 4-row register tiles of tiles.ts over a channel axis, on thread.y: the 4 channels share
 * every read of the pixel operand, and the weight reads depend only on thread.y and loop
 * counters, so on webasm a SIMD quad of 4 pixels loads them once. The weight gradient
 * (conv2dBackwardWeightT, further down) tiles 4 weight columns the same way, over a
 * channels-last dy.
 *
 * Direct rather than im2col + matmul: measured on this machine (webasm, 8x32x28x28, 3x3,
 * 32 -> 32) direct ran at 2.45 GFLOP/s, im2col + tiled matmul at 1.8, and im2col needs a
 * [cin*kh*kw, batch*oh*ow] buffer (43M floats for the 96-channel 28x28 layer at batch 64,
 * past the 2^24 that float32 index math can address exactly).
 */
import type { Conv2dParams } from '../src/backend/backend';
import { floorDivSource, type KernelSpec, type KernelThis } from './kernel';

// ---------------------------------------------------------------------------------------------
// Convolutions on a padded input, written for vector code (issues 7 and 12).
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
// size, padded width and weight order), with their offsets as literals. When cout is a
// multiple of 4 (every conv of the UNet but its last) the kernel is the aligned form: the 4
// weight rows of a tile are one address plus compile-time offsets, one pass over the channels
// per tap, and two SIMD quads per call (the patch's M), whose loop body (2 vector loads, 4
// weight splats shared by both quads, 8 sums) fits the 16 vector registers and runs 8
// independent multiply-add chains. Otherwise (the clamped form) one pass per row of taps (3
// vector loads, 12 weight splats, 12 multiply-adds into 4 sums), one quad per call. Measured
// kernel against kernel in one process (`npx ts-node --transpile-only bench/kernel-ab.ts --calls 11`,
// batch 32, one thread, 2026-12-04, the aligned form against the row-of-taps loop of commit
// 3701941): forward 1.21-1.30x at the five unet-tiny and unet-mini sizes, 1.25x stride 2;
// input gradient 1.21-1.36x. (Before that, the row-of-taps loop against all 9 taps in one
// body, which V8 spilled: `--rev e790999 --calls 21`, forward 1.31-1.52x, input gradient
// 1.31-1.48x.)
//
// Stride s > 1, forward. Lanes 4 outputs apart would read inputs 4s apart: no vector load.
// So the padded input is first split into its s_H * s_W stride phases (spaceToDepthSpec):
// plane (a, b) of a channel holds the padded pixels (i*sH + a, j*sW + b). Tap (ky, kx) =
// (m*sH + a, n*sW + b) of output (oy, ox) reads pixel ((oy + m)*sH + a, (ox + n)*sW + b),
// which is (oy + m, ox + n) of plane (a, b): a stride-1 read again, one vector load for 4
// outputs, and the taps stay the conv's own kh * kw (no zero taps are added).
//
// Backward-input, stride 1: dx is the full correlation of dy, padded by (kh - 1 - ph,
// kw - 1 - pw), with the weights flipped and cin/cout swapped. Stride s > 1: write
// iy + pH = q*sH + r (0 <= r < sH). The taps that reach dx row iy are ky = r + m*sH, from
// dy row oy = q - m, so output phase r of dx (rows q*sH + r - pH) is a stride-1 correlation
// of dy over m with weight taps r, r + sH, r + 2 sH, ... (the same in x). Each of the
// s_H * s_W phases is one kernel call over dy padded by ceil(k/s) - 1 (backwardInputPhase),
// summing only the taps that exist, and interleavePhasesSpec puts the phases back in place.
// The zero-dilated form (dy with s - 1 zeros between its pixels, then a stride-1 conv) does
// s_H * s_W times the multiply-adds, 3 of 4 of them by zeros at stride 2.
//
// Backward-weight puts the output channel on thread.x, reading dy transposed to
// [n, oh * ow, cout] (4 consecutive channels: one vector load) and the padded input as splats,
// 4 weight columns (ci, ky, kx) per thread; sumSlicesT adds the batch slices and transposes
// [ckk, cout] back to [cout, ckk].
// ---------------------------------------------------------------------------------------------

/** Called with (x [planes, h, w]); gives [planes, hp, wp]: x at offset (ph, pw), zeros around it. */
export function pad2dSpec(planes: number, h: number, w: number, ph: number, pw: number, hp = h + 2 * ph, wp = paddedPitch(w + 2 * pw)): KernelSpec {
  return { name: 'conv2d.pad', source: zeroPad2d, output: [wp, hp, planes], constants: { h, w, ph, pw, hw: h * w } };
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

/**
 * Zero padding, without divisions. Inside the image rows (a branch every lane of a webasm
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
  /** padded input plane (of one stride phase, with `phases`) */
  hp: number;
  wp: number;
  /** the tap grid */
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
  /**
   * A strided forward conv on its input's stride phases (spaceToDepthSpec): each channel of xp
   * holds sH * sW planes of [hp, wp], and tap (ky, kx) reads plane (ky % sH) * sW + kx % sW at
   * (floor(ky / sH), floor(kx / sW)). Absent: one plane, tap (ky, kx) at (ky, kx).
   */
  phases?: { sh: number; sw: number };
  /**
   * One output phase (rh, rw) of a strided backward-input (backwardInputPhase): grid tap (ny, nx)
   * multiplies weight tap (ky, kx) = (rh + (kh - 1 - ny) * sH, rw + (kw - 1 - nx) * sW) of the
   * conv's kh0 x kw0 kernel, t' = ky * kw0 + kx, and is left out where that is outside the kernel.
   */
  phaseOf?: { sh: number; sw: number; rh: number; rw: number; kh0: number; kw0: number };
}

/** One unrolled tap: where it reads xp (from its cell's position in the channel) and which weight tap t' it multiplies. */
interface Tap {
  xoff: number;
  t: number;
}

/** The taps a PaddedConv sums, one list per row of its tap grid (a row's reads are loaded together). */
function paddedTaps(c: PaddedConv): Tap[][] {
  const rows: Tap[][] = [];
  for (let ky = 0; ky < c.kh; ky++) {
    const row: Tap[] = [];
    for (let kx = 0; kx < c.kw; kx++) {
      if (c.phases) {
        const { sh, sw } = c.phases;
        const plane = (ky % sh) * sw + (kx % sw);
        row.push({ xoff: plane * c.hp * c.wp + Math.floor(ky / sh) * c.wp + Math.floor(kx / sw), t: ky * c.kw + kx });
      } else if (c.phaseOf) {
        const { sh, sw, rh, rw, kh0, kw0 } = c.phaseOf;
        const wy = rh + (c.kh - 1 - ky) * sh;
        const wx = rw + (c.kw - 1 - kx) * sw;
        if (wy < kh0 && wx < kw0) row.push({ xoff: ky * c.wp + kx, t: wy * kw0 + wx });
      } else {
        const k = ky * c.kw + kx;
        row.push({ xoff: ky * c.wp + kx, t: c.flip ? c.kh * c.kw - 1 - k : k });
      }
    }
    if (row.length > 0) rows.push(row);
  }
  return rows;
}

/**
 * Whether a PaddedConv runs in its aligned form: the 4 output channels of every tile exist
 * (cout a multiple of 4), so their weight rows are one address plus compile-time offsets.
 */
export function paddedConvAligned(c: PaddedConv): boolean {
  return c.cout % 4 === 0;
}

/**
 * A tap's read of the padded input, written `xp[this.thread.x + <uniform terms>]` so that the
 * patched code generator makes it one vector load for a SIMD quad (its D).
 */
function pixelRead(name: string, tap: Tap): string {
  return `    const ${name} = xp[this.thread.x + xc${tap.xoff > 0 ? ` + ${tap.xoff}` : ''}];`;
}

function paddedConvSource(c: PaddedConv): string {
  return paddedConvAligned(c) ? alignedConvSource(c) : clampedConvSource(c);
}

/**
 * cout not a multiple of 4: the last tile repeats channel cout - 1 (untile4 drops it), so each
 * of the 4 weight rows has its own offset. One pass over the channels per row of taps: a row's
 * reads and multiply-adds are one loop body (3 vector loads, 12 splats, 4 sums).
 */
function clampedConvSource(c: PaddedConv): string {
  const passes = paddedTaps(c).map((row) => {
    const lines: string[] = [];
    row.forEach((tap, i) => lines.push(pixelRead(`x${i}`, tap)));
    row.forEach((tap, i) => {
      for (let r = 0; r < 4; r++) lines.push(`    s${r} += w[a${r}${tap.t > 0 ? ` + ${tap.t}` : ''}] * x${i};`);
    });
    return `  for (let ci = 0; ci < this.constants.cin; ci++) {
    const xc = img + ci * this.constants.hpwp;
    const wc = ci * this.constants.wIn;
    const a0 = wc + w0;
    const a1 = wc + w1;
    const a2 = wc + w2;
    const a3 = wc + w3;
${lines.join('\n')}
  }`;
  });
  // the bias starts the sums
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
${passes.join('\n')}
  return [s0, s1, s2, s3];
}`;
}

/**
 * cout a multiple of 4 (every conv of the UNet but its last): the tile's 4 weight rows are
 * `a + this.constants.wRow<r>` with wRow<r> = r * wOut, compile-time terms that the patch puts
 * into the load instruction's offset (its H), so the 4 splats share one address, and one pass
 * over the channels per tap (1 vector load, 4 splats, 4 sums). The spec asks for two quads per
 * call (pairQuads, the patch's M): the second quad shares the 4 splats, so a body is 2 vector
 * loads, 4 splats and 8 sums, 14 of the 16 SIMD registers, and 8 independent multiply-add
 * chains instead of 4. V8 computes loop-invariant products inside the loop that uses them
 * (node --print-wasm-code: the clamped form's 4 row offsets c_r * wOut were 4 multiplies per
 * iteration), so the fewer index terms here are most of the gain.
 */
function alignedConvSource(c: PaddedConv): string {
  const passes = paddedTaps(c)
    .flat()
    .map((tap) => {
      const t = tap.t > 0 ? ` + ${tap.t}` : '';
      const lines = [pixelRead('x0', tap)];
      for (let r = 0; r < 4; r++) lines.push(`    s${r} += w[a${r > 0 ? ` + this.constants.wRow${r}` : ''}${t}] * x0;`);
      return `  for (let ci = 0; ci < this.constants.cin; ci++) {
    const xc = img + ci * this.constants.hpwp;
    const a = wt + ci * this.constants.wIn;
${lines.join('\n')}
  }`;
    });
  const sums = [0, 1, 2, 3].map((r) => `  let s${r} = ${c.bias ? `bias[c0${r > 0 ? ` + ${r}` : ''}]` : '0'};`).join('\n');
  return `function conv2dPaddedAligned(xp, w${c.bias ? ', bias' : ''}) {
  const c0 = this.thread.y * 4;
  const wt = this.thread.y * this.constants.wTile;
  const img = this.thread.z * this.constants.imgStride;
${sums}
${passes.join('\n')}
  return [s0, s1, s2, s3];
}`;
}

/** Called with (xp, w), or (xp, w, bias) for a PaddedConv with bias; a tile grid over the padded rows (tile4.pitch), see tiles.ts. */
export function paddedConvSpec(name: string, c: PaddedConv): KernelSpec {
  const x = (c.oh - 1) * c.wp + c.ow;
  const planes = c.phases ? c.phases.sh * c.phases.sw : 1;
  const ph = c.phaseOf;
  return {
    name,
    source: paddedConvSource(c),
    output: [x, Math.ceil(c.cout / 4), c.n],
    constants: {
      cin: c.cin, cout: c.cout, coutLast: c.cout - 1, hpwp: planes * c.hp * c.wp, imgStride: c.cin * planes * c.hp * c.wp, wOut: c.wOut, wIn: c.wIn,
      // baked into the source as literals; here for the cache key
      wp: c.wp, kh: c.kh, kw: c.kw, flip: c.flip ? 1 : 0, bias: c.bias ? 1 : 0,
      wTile: 4 * c.wOut, wRow1: c.wOut, wRow2: 2 * c.wOut, wRow3: 3 * c.wOut,
      sh: c.phases?.sh ?? ph?.sh ?? 1, sw: c.phases?.sw ?? ph?.sw ?? 1, rh: ph?.rh ?? 0, rw: ph?.rw ?? 0, kh0: ph?.kh0 ?? 0, kw0: ph?.kw0 ?? 0,
    },
    tile4: { rows: c.cout, width: c.ow, pitch: c.wp },
    // the aligned form, paired (the patch's M): 1.1-1.3x the clamped form's row-of-taps loop at
    // one quad (bench/kernel-ab.ts, kernels/README.md)
    ...(paddedConvAligned(c) ? { pairQuads: true } : {}),
  };
}

/** The stride-1 forward conv as a PaddedConv over x padded by (ph, pw). */
export function forwardPadded(p: Conv2dParams): PaddedConv {
  return { n: p.n, cin: p.cin, cout: p.cout, hp: p.h + 2 * p.padH, wp: paddedPitch(p.w + 2 * p.padW), kh: p.kh, kw: p.kw, oh: p.oh, ow: p.ow, wOut: p.cin * p.kh * p.kw, wIn: p.kh * p.kw, flip: false };
}

/**
 * A strided forward conv as a PaddedConv over its input's stride phases: a phase plane needs
 * oh + ceil(kh / sH) - 1 rows and ow + ceil(kw / sW) - 1 real columns (tap (ky, kx) reads
 * (oy + floor(ky / sH), ox + floor(kx / sW)) of its plane).
 */
export function forwardPhased(p: Conv2dParams): PaddedConv {
  const { hp, wp } = phasePlane(p);
  return { n: p.n, cin: p.cin, cout: p.cout, hp, wp, kh: p.kh, kw: p.kw, oh: p.oh, ow: p.ow, wOut: p.cin * p.kh * p.kw, wIn: p.kh * p.kw, flip: false, phases: { sh: p.strideH, sw: p.strideW } };
}

/** A stride phase's plane of forwardPhased: hp rows, wq real columns, row pitch wp. */
function phasePlane(p: Conv2dParams): { hp: number; wq: number; wp: number } {
  const wq = p.ow + Math.ceil(p.kw / p.strideW) - 1;
  return { hp: p.oh + Math.ceil(p.kh / p.strideH) - 1, wq, wp: paddedPitch(wq) };
}

/**
 * Output [wp, hp, planes * sh * sw]: plane z = (plane, a * sw + b) holds pixel (i*sh + a - ph,
 * j*sw + b - pw) of x at (i, j), 0 where that is outside x or j >= wq (the pitch's columns).
 */
function spaceToDepthSource(): string {
  return `function spaceToDepth(x) {
  const z = this.thread.z;
  ${floorDivSource('plane', 'z', 'this.constants.phases')}
  const phase = z - plane * this.constants.phases;
  ${floorDivSource('a', 'phase', 'this.constants.sw')}
  const b = phase - a * this.constants.sw;
  const iy = this.thread.y * this.constants.sh + a - this.constants.ph;
  const ix = this.thread.x * this.constants.sw + b - this.constants.pw;
  const inside = iy >= 0 && iy < this.constants.h && ix >= 0 && ix < this.constants.w && this.thread.x < this.constants.wq ? 1 : 0;
  return inside > 0 ? x[plane * this.constants.hw + (inside > 0 ? iy * this.constants.w + ix : 0)] : 0;
}`;
}

/** Called with (x [planes, h, w]); gives the stride phases of x padded by (p.padH, p.padW), [planes, sH * sW, hp, wp], the input of forwardPhased(p). */
export function spaceToDepthSpec(planes: number, p: Conv2dParams): KernelSpec {
  const { hp, wq, wp } = phasePlane(p);
  return {
    name: 'conv2d.spaceToDepth',
    source: spaceToDepthSource(),
    output: [wp, hp, planes * p.strideH * p.strideW],
    constants: { h: p.h, w: p.w, hw: p.h * p.w, sh: p.strideH, sw: p.strideW, phases: p.strideH * p.strideW, ph: p.padH, pw: p.padW, wq },
  };
}

/** Whether the stride-1 forward kernel applies as it is (else: forwardPhased). */
export function paddedForwardApplies(p: Conv2dParams): boolean {
  return p.strideH === 1 && p.strideW === 1;
}

/**
 * The backward-input conv of stride 1 with padding below the kernel size: dy padded by
 * (kh - 1 - ph, kw - 1 - pw) to [h + kh - 1, w + kw - 1] (pad2dSpec), weights flipped,
 * channels swapped: dx[iy, ix] = sum_{co, ky', kx'} dp[iy + ky', ix + kx'] w[co, ci, kh-1-ky', kw-1-kx'].
 */
export function backwardInputPadded(p: Conv2dParams): PaddedConv {
  return { n: p.n, cin: p.cout, cout: p.cin, hp: p.h + p.kh - 1, wp: paddedPitch(p.w + p.kw - 1), kh: p.kh, kw: p.kw, oh: p.h, ow: p.w, wOut: p.kh * p.kw, wIn: p.cin * p.kh * p.kw, flip: true };
}

/** Whether backwardInputPadded applies: stride 1, padding below the kernel size (dy is padded by kh - 1 - ph). */
export function paddedBackwardInputApplies(p: Conv2dParams): boolean {
  return p.strideH === 1 && p.strideW === 1 && p.padH <= p.kh - 1 && p.padW <= p.kw - 1;
}

/**
 * The phase grid of a backward-input by phases: output phase (rh, rw) holds dx at rows
 * q*sH + rh - pH for q < qh (and the same in x), from dy padded by (mh - 1, mw - 1) at the top
 * and left to [hp, wp], where mh = ceil(kh / sH) taps of the phase's grid reach one row.
 */
export function backwardInputPhaseGrid(p: Conv2dParams): { qh: number; qw: number; mh: number; mw: number; hp: number; wp: number } {
  const mh = Math.ceil(p.kh / p.strideH);
  const mw = Math.ceil(p.kw / p.strideW);
  const qh = Math.floor((p.h - 1 + p.padH) / p.strideH) + 1;
  const qw = Math.floor((p.w - 1 + p.padW) / p.strideW) + 1;
  return { qh, qw, mh, mw, hp: qh + mh - 1, wp: paddedPitch(qw + mw - 1) };
}

/** Output phase (rh, rw) of dx as a PaddedConv over the padded dy of backwardInputPhaseGrid; null when no tap of the kernel reaches it (it is 0). */
export function backwardInputPhase(p: Conv2dParams, rh: number, rw: number): PaddedConv | null {
  if (rh >= p.kh || rw >= p.kw) return null;
  const g = backwardInputPhaseGrid(p);
  return {
    n: p.n, cin: p.cout, cout: p.cin, hp: g.hp, wp: g.wp, kh: g.mh, kw: g.mw, oh: g.qh, ow: g.qw, wOut: p.kh * p.kw, wIn: p.cin * p.kh * p.kw, flip: false,
    phaseOf: { sh: p.strideH, sw: p.strideW, rh, rw, kh0: p.kh, kw0: p.kw },
  };
}

/**
 * Output [planes * h * w]: dx[plane, iy, ix] from phase (rh, rw) = ((iy + ph) % sh, (ix + pw) % sw)
 * at (floor((iy + ph) / sh), floor((ix + pw) / sw)) of its [planes, qh, qw] grid.
 */
function interleavePhasesSource(phases: number): string {
  const args = Array.from({ length: phases }, (_, i) => `p${i}`);
  let pick = `p${phases - 1}[at]`;
  for (let i = phases - 2; i >= 0; i--) pick = `phase == ${i} ? p${i}[at] : ${pick}`;
  return `function interleavePhases(${args.join(', ')}) {
  const t = this.thread.x;
  ${floorDivSource('plane', 't', 'this.constants.hw')}
  const r = t - plane * this.constants.hw;
  ${floorDivSource('iy', 'r', 'this.constants.w')}
  const ix = r - iy * this.constants.w;
  const uy = iy + this.constants.ph;
  const ux = ix + this.constants.pw;
  ${floorDivSource('qy', 'uy', 'this.constants.sh')}
  ${floorDivSource('qx', 'ux', 'this.constants.sw')}
  const phase = (uy - qy * this.constants.sh) * this.constants.sw + ux - qx * this.constants.sw;
  const at = (plane * this.constants.qh + qy) * this.constants.qw + qx;
  return ${pick};
}`;
}

/** Called with the sH * sW phases [planes, qh, qw] of backwardInputPhase (in order rh * sW + rw); gives dx [planes, h, w]. */
export function interleavePhasesSpec(planes: number, p: Conv2dParams): KernelSpec {
  const g = backwardInputPhaseGrid(p);
  const phases = p.strideH * p.strideW;
  return {
    name: 'conv2d.interleavePhases',
    source: interleavePhasesSource(phases),
    output: [planes * p.h * p.w],
    constants: { hw: p.h * p.w, w: p.w, sh: p.strideH, sw: p.strideW, ph: p.padH, pw: p.padW, qh: g.qh, qw: g.qw },
  };
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

/** Output rows up to this wide get conv2dBackwardWeightT with its ox loop in pairs (backwardWeightTPaired). */
const PAIRED_OW = 32;

/**
 * conv2dBackwardWeightT with the ox loop taking two output positions per iteration, written out
 * (the odd last one after the loop): the column step and every offset inside the pair are
 * literals folded into the loads. Why two and not the whole row: V8 schedules a block's loads
 * ahead of the multiply-adds that use them, so a fully unrolled row of 28 (28 vector loads and
 * 112 splats in one block, 16 vector registers) spilled nearly every loaded value to the stack
 * and read it back (seen with node --print-wasm-code); a pair, 10 loaded values and 4 sums,
 * stays in registers. Measured against the whole row (`npx ts-node --transpile-only
 * bench/kernel-ab.ts --rev 5f9c029 --calls 21`, batch 32, one thread): 1.53x at [32, 32, 28, 28] -> 32,
 * 1.05x at 14x14x64, the same at 7x7x64; in separate bench/kernels.ts runs threes and fours were
 * slower than pairs at 28x28 (10.9 and 5.2-7.7 GFLOP/s against 12.1-12.2).
 */
function backwardWeightTPaired(ow: number, cout: number, colStep: number): string {
  // output position `ox` (a literal) relative to the loop's xa / ga, or to the row's xr / gr after the loop
  const step = (ox: number, inLoop: boolean): string[] => {
    const [xBase, gBase] = inLoop ? ['xa', 'ga'] : ['xr', 'gr'];
    const g = ox * cout;
    const xo = ox * colStep;
    const lines = [`          const g${ox} = gyT[this.thread.x + ${gBase}${g > 0 ? ` + ${g}` : ''}];`];
    for (let r = 0; r < 4; r++) lines.push(`          p${r} += xp[o${r} + ${xBase}${xo > 0 ? ` + ${xo}` : ''}] * g${ox};`);
    return lines;
  };
  const pairs = ow - (ow % 2);
  const steps: string[] = [];
  if (pairs > 0) {
    steps.push(`        for (let ox = 0; ox < ${pairs}; ox += 2) {`);
    steps.push(`          const xa = xr + ox * ${colStep};`);
    steps.push(`          const ga = gr + ox * ${cout};`);
    steps.push(...step(0, true), ...step(1, true));
    steps.push('        }');
  }
  if (pairs < ow) steps.push(...step(pairs, false));
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
  const source = p.ow <= PAIRED_OW ? backwardWeightTPaired(p.ow, p.cout, p.strideW) : conv2dBackwardWeightT;
  // pairQuads: two quads per SIMD call (the webasm patch's M) measured 1.20-1.45x the GFLOP/s of
  // one quad at unet-tiny's and unet-mini's sizes (bench/kernel-ab.ts --one-quad)
  return { name: 'conv2d.backwardWeight', source, output: [p.cout, Math.ceil(ckk / 4), slices], constants, tile4: { rows: ckk }, nonNegative: ['offs'], pairQuads: true };
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
