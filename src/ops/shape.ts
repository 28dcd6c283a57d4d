/** Joining and splitting along an axis. concat's backward is a slice per input; split is slices. */
import { Context, Function } from '../autograd';
import { Tensor } from '../tensor';
import { normalizeAxis, sameBackend } from './util';

export class Concat extends Function {
  forward(ctx: Context, axis: number, ...parts: Tensor[]) {
    if (parts.length === 0) throw new Error('concat: needs at least one tensor');
    sameBackend('concat', ...parts);
    const first = parts[0];
    const a = normalizeAxis(axis, first.ndim, 'concat');
    for (const p of parts) {
      const ok = p.ndim === first.ndim && p.shape.every((s, d) => d === a || s === first.shape[d]);
      if (!ok) throw new Error(`concat: shapes must match except along axis ${axis}: [${first.shape}] vs [${p.shape}]`);
    }
    // Seen as [outer, shape[a] * inner] matrices, concatenation along `a` joins rows.
    const outer = first.shape.slice(0, a).reduce((p, s) => p * s, 1);
    const inner = first.shape.slice(a + 1).reduce((p, s) => p * s, 1);
    const widths = parts.map((p) => p.shape[a] * inner);
    const buf = first.backend.concat(parts.map((p) => p.denseBuf()), widths, outer);
    const shape = first.shape.slice();
    shape[a] = parts.reduce((s, p) => s + p.shape[a], 0);
    ctx.axis = a;
    ctx.sizes = parts.map((p) => p.shape[a]);
    return Tensor.fromBuf(buf, shape, first.backend);
  }
  backward(ctx: Context, g: Tensor) {
    const a = ctx.axis as number;
    let start = 0;
    return (ctx.sizes as number[]).map((n) => {
      const piece = g.slice(a, start, start + n);
      start += n;
      return piece;
    });
  }
}

/** Join tensors along `axis` (like torch.cat). */
export function concat(parts: Tensor[], axis = 0): Tensor {
  return Concat.apply(axis, ...parts);
}

/** Split into pieces along `axis`: a list of sizes, or one size for equal pieces (the last may be smaller). */
export function split(x: Tensor, sizes: number | number[], axis = 0): Tensor[] {
  const a = normalizeAxis(axis, x.ndim, 'split');
  const total = x.shape[a];
  let list: number[];
  if (typeof sizes === 'number') {
    if (!(Number.isInteger(sizes) && sizes > 0)) throw new Error(`split: piece size must be a positive integer, got ${sizes}`);
    list = [];
    for (let s = 0; s < total; s += sizes) list.push(Math.min(sizes, total - s));
  } else {
    list = sizes;
    const sum = list.reduce((p, s) => p + s, 0);
    if (sum !== total) throw new Error(`split: sizes [${sizes}] add up to ${sum}, but axis ${axis} of [${x.shape}] has ${total}`);
  }
  let start = 0;
  return list.map((n) => {
    const piece = x.slice(a, start, start + n);
    start += n;
    return piece;
  });
}
