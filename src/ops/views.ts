/**
 * Views: new shape/strides/offset over the same storage, no copy. Their backward rules are
 * the inverse view (reshape back, inverse permutation, sum over what expand repeated, place
 * the slice back into zeros).
 */
import { Context, Function } from '../autograd';
import { Tensor, checkShape, contiguousStrides } from '../tensor';
import { normalizeAxis } from './util';
import { concat } from './shape';

/**
 * When `shape` differs from x's shape only by size-1 dims (squeeze, unsqueeze, select), the
 * strides of x still work for the other dims, so any strided x can be viewed without a copy.
 * Returns those strides (0 for the size-1 dims, which are never stepped), else null.
 */
function stridesKeepingLayout(x: Tensor, shape: number[]): number[] | null {
  const dims = x.shape.map((size, d) => ({ size, stride: x.strides[d] })).filter((d) => d.size !== 1);
  let next = 0;
  const strides = shape.map((s) => (s === 1 ? 0 : dims[next]?.size === s ? dims[next++].stride : NaN));
  return next === dims.length && !strides.some(Number.isNaN) ? strides : null;
}

export class Reshape extends Function {
  forward(ctx: Context, x: Tensor, shape: number[]) {
    ctx.inputShape = x.shape;
    if (x.isContiguous()) return new Tensor(x.storage, shape.slice(), contiguousStrides(shape), x.offset);
    const strides = stridesKeepingLayout(x, shape);
    if (strides) return new Tensor(x.storage, shape.slice(), strides, x.offset);
    const dense = x.contiguous(); // the layout does not allow a view: copy
    return new Tensor(dense.storage, shape.slice(), contiguousStrides(shape), dense.offset);
  }
  backward(ctx: Context, g: Tensor) {
    return [g.reshape(ctx.inputShape as number[])];
  }
}

/** Reorder axes: out.shape[i] = x.shape[axes[i]]. */
export class Permute extends Function {
  forward(ctx: Context, x: Tensor, axes: number[]): Tensor {
    if (axes.length !== x.ndim) throw new Error(`permute: expected ${x.ndim} axes for shape [${x.shape}], got [${axes}]`);
    const ax = axes.map((a) => normalizeAxis(a, x.ndim, 'permute'));
    if (new Set(ax).size !== ax.length) throw new Error(`permute: axes [${axes}] are not a permutation`);
    ctx.axes = ax;
    // BEGIN SOLUTION 1
    return new Tensor(x.storage, ax.map((a) => x.shape[a]), ax.map((a) => x.strides[a]), x.offset);
    // END SOLUTION 1
  }
  backward(ctx: Context, g: Tensor) {
    const ax = ctx.axes as number[];
    const inverse = new Array(ax.length);
    ax.forEach((a, i) => (inverse[a] = i));
    return [g.permute(inverse)];
  }
}

export function transpose(x: Tensor, a0: number, a1: number): Tensor {
  const axes = x.shape.map((_, i) => i);
  const i = normalizeAxis(a0, x.ndim, 'transpose');
  const j = normalizeAxis(a1, x.ndim, 'transpose');
  [axes[i], axes[j]] = [axes[j], axes[i]];
  return x.permute(axes);
}

/** Broadcast size-1 dims (and new leading dims) to `shape` with stride 0. */
export class Expand extends Function {
  forward(ctx: Context, x: Tensor, shape: number[]) {
    checkShape(shape, 'expand');
    const lead = shape.length - x.ndim;
    if (lead < 0) throw new Error(`expand: cannot expand [${x.shape}] to fewer dims [${shape}]`);
    const strides = shape.map((s, d) => {
      if (d < lead) return 0;
      const own = x.shape[d - lead];
      if (own === s) return x.strides[d - lead];
      if (own === 1) return 0;
      throw new Error(`expand: cannot expand [${x.shape}] to [${shape}] (size ${own} at axis ${d - lead} is not 1)`);
    });
    ctx.inputShape = x.shape;
    return new Tensor(x.storage, shape.slice(), strides, x.offset);
  }
  backward(_ctx: Context, g: Tensor) {
    return [g]; // the engine's sumToShape sums over the repeated dims
  }
}

/** x[..., start:end, ...] along one axis (step 1). */
export class Slice extends Function {
  forward(ctx: Context, x: Tensor, axis: number, start: number, end?: number): Tensor {
    const a = normalizeAxis(axis, x.ndim, 'slice');
    const size = x.shape[a];
    const norm = (i: number) => (i < 0 ? i + size : i);
    const s = norm(start);
    const e = end === undefined ? size : norm(end);
    if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || e > size || s > e) {
      throw new Error(`slice: range [${start}, ${end ?? size}) is out of bounds for axis ${axis} of size ${size} (shape [${x.shape}])`);
    }
    ctx.axis = a;
    ctx.before = s;
    ctx.after = size - e;
    // BEGIN SOLUTION 1
    const shape = x.shape.slice();
    shape[a] = e - s;
    return new Tensor(x.storage, shape, x.strides.slice(), x.offset + s * x.strides[a]);
    // END SOLUTION 1
  }
  backward(ctx: Context, g: Tensor) {
    // put g back in its place, with zeros before and after along the axis
    const a = ctx.axis as number;
    const pad = (n: number) => {
      const shape = g.shape.slice();
      shape[a] = n;
      return Tensor.fromBuf(g.backend.full(shape.reduce((p, v) => p * v, 1), 0), shape, g.backend);
    };
    const parts = [];
    if ((ctx.before as number) > 0) parts.push(pad(ctx.before as number));
    parts.push(g);
    if ((ctx.after as number) > 0) parts.push(pad(ctx.after as number));
    return [parts.length === 1 ? g : concat(parts, a)];
  }
}

/** A dense row-major copy; the gradient passes unchanged. */
export class Contiguous extends Function {
  forward(_ctx: Context, x: Tensor) {
    return Tensor.fromBuf(x.backend.copyStrided(x.view(), x.shape), x.shape, x.backend);
  }
  backward(_ctx: Context, g: Tensor) {
    return [g];
  }
}

export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return x.reshape(x.shape.filter((s) => s !== 1));
  const a = normalizeAxis(axis, x.ndim, 'squeeze');
  if (x.shape[a] !== 1) return x;
  return x.reshape(x.shape.filter((_, d) => d !== a));
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis(axis, x.ndim + 1, 'unsqueeze');
  const shape = x.shape.slice();
  shape.splice(a, 0, 1);
  return x.reshape(shape);
}

export function flatten(x: Tensor, startAxis: number, endAxis: number): Tensor {
  if (x.ndim === 0) return x.reshape([1]);
  const s = normalizeAxis(startAxis, x.ndim, 'flatten');
  const e = normalizeAxis(endAxis, x.ndim, 'flatten');
  if (s > e) throw new Error(`flatten: start axis ${startAxis} comes after end axis ${endAxis}`);
  const middle = x.shape.slice(s, e + 1).reduce((p, v) => p * v, 1);
  return x.reshape([...x.shape.slice(0, s), middle, ...x.shape.slice(e + 1)]);
}
