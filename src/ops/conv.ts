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

function check4d(x: Tensor, op: string) {
  if (x.ndim !== 4) throw new Error(`${op}: input must be 4-d [N, C, H, W], got [${x.shape}]`);
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
