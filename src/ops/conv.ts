/**
 * Image ops on [N, C, H, W] tensors: conv2d, nearest upsampling, average pooling.
 * Their gradients are kernels too: the backward of a convolution is two other convolution-like
 * kernels (conv2dBackwardInput, conv2dBackwardWeight), and the backward of upsampling is
 * pooling and vice versa. These are the only backward rules that call backend kernels
 * directly; all others are written with tensor ops.
 */
import { Context, Function } from '../autograd';
import { Conv2dParams, convOutputSize } from '../backend/backend';
import { Tensor } from '../tensor';
import { sameBackend } from './util';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
}

const pair = (v: number | [number, number] | undefined, dflt: number): [number, number] =>
  v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : v;

export function conv2dParams(xShape: number[], wShape: number[], opts: Conv2dOptions = {}): Conv2dParams {
  if (xShape.length !== 4) throw new Error(`conv2d: input must be 4-d [N, C, H, W], got [${xShape}]`);
  if (wShape.length !== 4) throw new Error(`conv2d: weight must be 4-d [Cout, Cin, kH, kW], got [${wShape}]`);
  const [n, cin, h, w] = xShape;
  const [cout, wcin, kh, kw] = wShape;
  if (cin !== wcin) throw new Error(`conv2d: input has ${cin} channels but weight expects ${wcin}: input [${xShape}], weight [${wShape}]`);
  const [strideH, strideW] = pair(opts.stride, 1);
  const [padH, padW] = pair(opts.padding, 0);
  if (![strideH, strideW].every((s) => Number.isInteger(s) && s >= 1)) throw new Error(`conv2d: stride must be a positive integer, got ${opts.stride}`);
  if (![padH, padW].every((p) => Number.isInteger(p) && p >= 0)) throw new Error(`conv2d: padding must be a non-negative integer, got ${opts.padding}`);
  const oh = convOutputSize(h, kh, strideH, padH);
  const ow = convOutputSize(w, kw, strideW, padW);
  if (oh < 1 || ow < 1) throw new Error(`conv2d: kernel ${kh}x${kw} is larger than the padded input ${h + 2 * padH}x${w + 2 * padW} (input [${xShape}])`);
  return { n, cin, h, w, cout, kh, kw, strideH, strideW, padH, padW, oh, ow };
}

/**
 * Cross-correlation of x [N, Cin, H, W] with w [Cout, Cin, kH, kW], plus bias[co] on every
 * output of channel co when a bias is given (one op, so a backend adds it inside the
 * convolution instead of in a separate pass):
 *   y[n, co] = sum_ci x[n, ci] (*) w[co, ci] + bias[co]
 * Backward: dx and dw are the two transposed convolutions; dbias[co] = sum of dy[n, co, oy, ox]
 * over n, oy, ox (bias[co] reached every one of those outputs with weight 1).
 */
export class Conv2d extends Function {
  forward(ctx: Context, x: Tensor, w: Tensor, bias: Tensor | null, opts: Conv2dOptions) {
    sameBackend('conv2d', x, w, ...(bias ? [bias] : []));
    const p = conv2dParams(x.shape, w.shape, opts);
    if (bias && (bias.ndim !== 1 || bias.shape[0] !== p.cout)) throw new Error(`conv2d: bias must be [${p.cout}], got [${bias.shape}]`);
    ctx.saveForBackward(x, w);
    ctx.p = p;
    ctx.hasBias = !!bias;
    const buf = x.backend.conv2d(x.denseBuf(), w.denseBuf(), p, bias ? bias.denseBuf() : undefined);
    return Tensor.fromBuf(buf, [p.n, p.cout, p.oh, p.ow], x.backend);
  }
  backward(ctx: Context, g: Tensor) {
    const [x, w] = ctx.saved;
    const p = ctx.p as Conv2dParams;
    const gy = g.denseBuf();
    const dx = ctx.needsInputGrad[0] ? Tensor.fromBuf(g.backend.conv2dBackwardInput(gy, w.denseBuf(), p), x.shape, g.backend) : null;
    const dw = ctx.needsInputGrad[1] ? Tensor.fromBuf(g.backend.conv2dBackwardWeight(x.denseBuf(), gy, p), w.shape, g.backend) : null;
    if (!ctx.hasBias) return [dx, dw];
    const db = ctx.needsInputGrad[2] ? Tensor.fromBuf(g.backend.conv2dBackwardBias(gy, p), [p.cout], g.backend) : null;
    return [dx, dw, db];
  }
}

/** conv2d with an optional bias [Cout] added to every position. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  return Conv2d.apply(x, weight, bias ?? null, opts);
}

/**
 * The nearest-upsampled image's 3x3 taps, as 2x2 taps of the small image. Upsampled row 2i + py
 * reads small rows i - 1 + py .. i + py (one below the image and one above are the zero padding):
 * for py = 0 its 3 taps (upsampled rows 2i - 1, 2i, 2i + 1) fall on small rows i - 1, i, i, and for
 * py = 1 (rows 2i, 2i + 1, 2i + 2) on i, i, i + 1. PHASE_TAPS[py][a] lists the 3x3 rows that land
 * on the phase's small tap a, and likewise for columns.
 */
const PHASE_TAPS = [
  [[0], [1, 2]],
  [[0, 1], [2]],
];

/** M [9, 16]: 3x3 weight tap (ky, kx) -> phase (py, px) 2x2 tap (a, b), 1 where the tap lands there. */
function phaseTapMatrix(): Float32Array {
  const m = new Float32Array(9 * 16);
  for (let py = 0; py < 2; py++)
    for (let px = 0; px < 2; px++)
      for (let a = 0; a < 2; a++)
        for (let b = 0; b < 2; b++)
          for (const ky of PHASE_TAPS[py][a]) for (const kx of PHASE_TAPS[px][b]) m[(ky * 3 + kx) * 16 + ((py * 2 + px) * 2 + a) * 2 + b] = 1;
  return m;
}

/**
 * The 4 phases of an upsampled convolution, y4 [N, 4C, h + 1, w + 1] (channel block 2 py + px
 * holds phase (py, px) with its origin one row and column up-left: its output (i, j) is at
 * (i + py, j + px)), interleaved into the image [N, C, 2h, 2w]: out[n, c, 2i + py, 2j + px] =
 * y4[n, (2 py + px) C + c, i + py, j + px]. Every index is linear in (n, c, i, py, j, px), so the
 * forward is one strided copy. The backward is its adjoint: each element of dy4 that the forward
 * read gets its one output's gradient, the others (a row and a column of each phase) zero. With g
 * padded by one zero row and column on every side (gp [N, C, 2h + 2, 2w + 2]), that is again one
 * strided read: dy4[n, (2 py + px) C + c, r, s] = gp[n, c, 2r - py + 1, 2s - px + 1].
 */
export class InterleaveUpsamplePhases extends Function {
  forward(_ctx: Context, y4: Tensor) {
    const [n, c4, h1, w1] = y4.shape;
    const c = c4 / 4;
    const [h, w] = [h1 - 1, w1 - 1];
    const P = h1 * w1;
    const strides = [4 * c * P, P, w1, 2 * c * P + w1, 1, c * P + 1]; // [n, c, i, py, j, px]
    const buf = y4.backend.copyStrided({ buf: y4.denseBuf(), offset: 0, strides }, [n, c, h, 2, w, 2]);
    return Tensor.fromBuf(buf, [n, c, 2 * h, 2 * w], y4.backend);
  }
  backward(_ctx: Context, g: Tensor) {
    const [n, c, H, W] = g.shape;
    const gp = pad2d(g, [1, 1, 1, 1]); // [n, c, H + 2, W + 2]
    const [Hp, Wp] = [H + 2, W + 2];
    const [h, w] = [H / 2, W / 2];
    const strides = [c * Hp * Wp, -Wp, -1, Hp * Wp, 2 * Wp, 2]; // [n, py, px, c, r, s]
    const buf = g.backend.copyStrided({ buf: gp.denseBuf(), offset: Wp + 1, strides }, [n, 2, 2, c, h + 1, w + 1]);
    return [Tensor.fromBuf(buf, [n, 4 * c, h + 1, w + 1], g.backend)];
  }
}

/**
 * conv2d(upsampleNearest2d(x, 2), weight, bias, { padding: 1 }) for a 3x3 weight [C', C, 3, 3],
 * computed on the small image x [N, C, h, w]. Output pixel (2i + py, 2j + px) of the upsampled
 * convolution sees only 2x2 distinct pixels of x (PHASE_TAPS), so each of the 4 output phases
 * (py, px) is a 2x2 convolution of x whose taps are sums of the 3x3 taps: weight @ M (M
 * [9, 16], phaseTapMatrix). The 4 phases run as one 2x2 convolution with 4 C' output channels on x
 * padded by 1, [N, 4 C', h + 1, w + 1], which InterleaveUpsamplePhases interleaves. Per output
 * pixel that is 16 (h + 1)(w + 1) / (4 h w) multiply-adds per input channel instead of 9:
 * 4.6 at h = 14, 5.2 at h = 7. The same function up to float rounding (a phase tap adds 1, 2 or 4
 * weights first), and gradients flow through every step: to x by the 2x2 convolution, to the
 * weight by the matmul with M. Other kernel sizes use the two ops as written.
 */
export function upsampleNearestConv2d(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  check4d(x, 'upsampleNearestConv2d');
  const [cout, cin, kh, kw] = weight.shape;
  if (weight.ndim !== 4 || kh !== 3 || kw !== 3) return conv2d(upsampleNearest2d(x, 2), weight, bias, { padding: 1 });
  if (x.shape[1] !== cin) throw new Error(`upsampleNearestConv2d: input has ${x.shape[1]} channels but weight expects ${cin}: input [${x.shape}], weight [${weight.shape}]`);
  const m = Tensor.fromBuf(x.backend.fromArray(phaseTapMatrix()), [9, 16], x.backend);
  // [cout, cin, 9] @ [9, 16] -> [cout, cin, (py, px), a, b] -> [(py, px), cout, cin, a, b]
  const w4 = weight.reshape([cout * cin, 9]).matmul(m).reshape([cout, cin, 4, 2, 2]).permute([2, 0, 1, 3, 4]).reshape([4 * cout, cin, 2, 2]);
  const b4 = bias ? bias.reshape([1, cout]).expand([4, cout]).reshape([4 * cout]) : null;
  return InterleaveUpsamplePhases.apply(conv2d(x, w4, b4, { padding: 1 }));
}

function check4d(x: Tensor, op: string) {
  if (x.ndim !== 4) throw new Error(`${op}: input must be 4-d [N, C, H, W], got [${x.shape}]`);
}

/**
 * Zero padding of the last two dims (PyTorch's F.pad(x, [left, right, top, bottom]) with
 * zeros, written in image order here): x [..., H, W] -> [..., top + H + bottom, left + W + right].
 * Backward: the gradient of the inner H x W window (a slice of g).
 */
export class Pad2d extends Function {
  forward(ctx: Context, x: Tensor, pads: [number, number, number, number]) {
    if (x.ndim < 2) throw new Error(`pad2d: input must have at least 2 dims [..., H, W], got [${x.shape}]`);
    if (pads.length !== 4 || !pads.every((q) => Number.isInteger(q) && q >= 0)) throw new Error(`pad2d: pads must be 4 non-negative integers [top, bottom, left, right], got [${pads}]`);
    const [top, bottom, left, right] = pads;
    const [h, w] = x.shape.slice(-2);
    const lead = x.shape.slice(0, -2);
    const planes = lead.reduce((a, b) => a * b, 1);
    const [outH, outW] = [top + h + bottom, left + w + right];
    ctx.window = { top, left, h, w };
    const buf = x.backend.pad2d(x.denseBuf(), { planes, h, w, top, left, outH, outW });
    return Tensor.fromBuf(buf, [...lead, outH, outW], x.backend);
  }
  backward(ctx: Context, g: Tensor) {
    const { top, left, h, w } = ctx.window as { top: number; left: number; h: number; w: number };
    return [g.slice(-2, top, top + h).slice(-1, left, left + w)];
  }
}

/** x [..., H, W] padded with zeros: pads = [top, bottom, left, right]. */
export function pad2d(x: Tensor, pads: [number, number, number, number]): Tensor {
  return Pad2d.apply(x, pads);
}

/** Nearest-neighbour upsampling by an integer factor; its backward sums each factor x factor block. */
export class UpsampleNearest2d extends Function {
  forward(ctx: Context, x: Tensor, scale: number) {
    check4d(x, 'upsampleNearest2d');
    if (!(Number.isInteger(scale) && scale >= 1)) throw new Error(`upsampleNearest2d: scale must be a positive integer, got ${scale}`);
    const [n, c, h, w] = x.shape;
    ctx.scale = scale;
    const buf = x.backend.upsampleNearest2d(x.denseBuf(), { n, c, h, w, scaleH: scale, scaleW: scale, outH: h * scale, outW: w * scale });
    return Tensor.fromBuf(buf, [n, c, h * scale, w * scale], x.backend);
  }
  backward(ctx: Context, g: Tensor) {
    const s = ctx.scale as number;
    const [n, c, h, w] = g.shape;
    return [Tensor.fromBuf(g.backend.sumPool2d(g.denseBuf(), { n, c, h, w, kh: s, kw: s }), [n, c, h / s, w / s], g.backend)];
  }
}

export function upsampleNearest2d(x: Tensor, scale = 2): Tensor {
  return UpsampleNearest2d.apply(x, scale);
}

/**
 * Average over non-overlapping k x k windows (stride k); rows/columns past the last full
 * window are dropped, as in PyTorch. Backward spreads g / k^2 back over each window.
 */
export class AvgPool2d extends Function {
  forward(ctx: Context, x: Tensor, k: number) {
    check4d(x, 'avgPool2d');
    const [n, c, h, w] = x.shape;
    if (!(Number.isInteger(k) && k >= 1 && k <= h && k <= w)) throw new Error(`avgPool2d: kernel ${k} must be a positive integer no larger than the input ${h}x${w}`);
    ctx.inputShape = x.shape;
    ctx.k = k;
    const sum = Tensor.fromBuf(x.backend.sumPool2d(x.denseBuf(), { n, c, h, w, kh: k, kw: k }), [n, c, Math.floor(h / k), Math.floor(w / k)], x.backend);
    return sum.mul(1 / (k * k));
  }
  backward(ctx: Context, g: Tensor) {
    const k = ctx.k as number;
    const [n, c, h, w] = ctx.inputShape as number[];
    const [, , gh, gw] = g.shape;
    const spread = g.backend.upsampleNearest2d(g.denseBuf(), { n, c, h: gh, w: gw, scaleH: k, scaleW: k, outH: h, outW: w });
    return [Tensor.fromBuf(spread, [n, c, h, w], g.backend).mul(1 / (k * k))];
  }
}

export function avgPool2d(x: Tensor, kernel = 2): Tensor {
  return AvgPool2d.apply(x, kernel);
}
