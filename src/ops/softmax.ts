/**
 * softmax and logSoftmax along one axis, numerically stable (the max is subtracted first).
 *   d softmax:     dx = y * (g - sum(g * y))
 *   d logSoftmax:  dx = g - softmax(x) * sum(g)
 */
import { Context, Function } from '../autograd';
import { Tensor } from '../tensor';
import { normalizeAxis } from './util';

/** Move `axis` last, run the row-wise softmax kernel, move it back. */
function softmaxAlong(x: Tensor, axis: number): Tensor {
  const order = x.shape.map((_, d) => d).filter((d) => d !== axis);
  order.push(axis);
  const moved = x.permute(order);
  const n = x.shape[axis];
  const buf = x.backend.softmax(moved.denseBuf(), x.size / Math.max(n, 1), n);
  const inverse = new Array(order.length);
  order.forEach((a, i) => (inverse[a] = i));
  return Tensor.fromBuf(buf, moved.shape, x.backend).permute(inverse).contiguous();
}

export class Softmax extends Function {
  forward(ctx: Context, x: Tensor, axis: number) {
    const a = normalizeAxis(axis, x.ndim, 'softmax');
    const y = softmaxAlong(x, a);
    ctx.saveForBackward(y);
    ctx.axis = a;
    return y;
  }
  backward(ctx: Context, g: Tensor) {
    const [y] = ctx.saved;
    return [y.mul(g.sub(g.mul(y).sum(ctx.axis as number, true)))];
  }
}

export class LogSoftmax extends Function {
  forward(ctx: Context, x: Tensor, axis: number) {
    const a = normalizeAxis(axis, x.ndim, 'logSoftmax');
    // log softmax(x) = (x - max) - log sum exp(x - max)
    const shifted = x.sub(x.max(a, true));
    const out = shifted.sub(shifted.exp().sum(a, true).log());
    ctx.saveForBackward(out);
    ctx.axis = a;
    return out;
  }
  backward(ctx: Context, g: Tensor) {
    const [out] = ctx.saved;
    return [g.sub(out.exp().mul(g.sum(ctx.axis as number, true)))];
  }
}
