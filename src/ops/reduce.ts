/**
 * Reductions over any set of axes. The reduced axes are moved to the end and made dense, so
 * the backend only ever reduces the rows of an [outer, n] matrix.
 */
import { Context, Function } from '../autograd';
import type { ReduceOp } from '../backend/backend';
import { Tensor } from '../tensor';
import { normalizeAxes, normalizeAxis } from './util';

interface Reduced {
  out: Tensor;
  /** the output shape with reduced axes kept as size 1 (for broadcasting back in backward) */
  keptShape: number[];
}

function reduceKernel(op: ReduceOp, x: Tensor, axes: number[], keepdim: boolean, name: string): Reduced {
  const kept = x.shape.map((s, d) => (axes.includes(d) ? 1 : s));
  const outShape = keepdim ? kept : x.shape.filter((_, d) => !axes.includes(d));
  const n = axes.reduce((p, d) => p * x.shape[d], 1);
  if (n === 0 && op !== 'sum') throw new Error(`${name}: cannot reduce an empty axis of a tensor of shape [${x.shape}]`);
  const rest = x.shape.map((_, d) => d).filter((d) => !axes.includes(d));
  const moved = x.permute([...rest, ...axes]); // reduced axes last
  const outer = rest.reduce((p, d) => p * x.shape[d], 1); // one output per kept index, also when n = 0
  const buf = x.backend.reduce(op, moved.denseBuf(), outer, n);
  return { out: Tensor.fromBuf(buf, outShape, x.backend), keptShape: kept };
}

/** sum over axes: every input element contributes once, so the gradient is g broadcast back. */
export class Sum extends Function {
  forward(ctx: Context, x: Tensor, axes: number | number[] | undefined, keepdim: boolean) {
    const ax = normalizeAxes(axes, x.ndim, 'sum');
    const { out, keptShape } = reduceKernel('sum', x, ax, keepdim, 'sum');
    ctx.inputShape = x.shape;
    ctx.keptShape = keptShape;
    return out;
  }
  backward(ctx: Context, g: Tensor) {
    return [g.reshape(ctx.keptShape as number[]).expand(ctx.inputShape as number[])];
  }
}

/**
 * max (or min) over axes. The gradient goes to the elements equal to the extreme, shared
 * equally among ties (as torch.amax does), so it is well defined.
 */
export class Max extends Function {
  forward(ctx: Context, x: Tensor, axes: number | number[] | undefined, keepdim: boolean, which: 'max' | 'min') {
    const ax = normalizeAxes(axes, x.ndim, which);
    const { out, keptShape } = reduceKernel(which, x, ax, keepdim, which);
    ctx.saveForBackward(x, out.reshape(keptShape));
    ctx.axes = ax;
    return out;
  }
  backward(ctx: Context, g: Tensor) {
    const [x, extreme] = ctx.saved;
    const axes = ctx.axes as number[];
    const mask = x.eq(extreme);
    const count = mask.sum(axes, true);
    return [mask.div(count).mul(g.reshape(extreme.shape))];
  }
}

export function mean(x: Tensor, axes: number | number[] | undefined, keepdim: boolean): Tensor {
  const ax = normalizeAxes(axes, x.ndim, 'mean');
  const n = ax.reduce((p, d) => p * x.shape[d], 1);
  return x.sum(ax, keepdim).mul(1 / n);
}

/** var = sum (x - mean)^2 / (n - correction); correction 1 is the unbiased estimate. */
export function variance(x: Tensor, axes: number | number[] | undefined, keepdim: boolean, correction: number): Tensor {
  const ax = normalizeAxes(axes, x.ndim, 'var');
  const n = ax.reduce((p, d) => p * x.shape[d], 1);
  if (n - correction <= 0) throw new Error(`var: ${n} element(s) per reduction are too few for correction ${correction}`);
  const centered = x.sub(x.mean(ax, true));
  return centered.square().sum(ax, keepdim).mul(1 / (n - correction));
}

/** Index of the largest (smallest) element along one axis, or of the flattened tensor. No gradient. */
export function argReduce(x: Tensor, op: 'argmax' | 'argmin', axis: number | undefined, keepdim: boolean): Tensor {
  if (axis === undefined) return reduceKernel(op, x.detach().reshape([-1]), [0], false, op).out;
  const a = normalizeAxis(axis, x.ndim, op);
  return reduceKernel(op, x.detach(), [a], keepdim, op).out;
}
