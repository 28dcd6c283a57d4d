/**
 * Matrix product with batch dims broadcast as in NumPy: [..., m, k] @ [..., k, n] -> [..., m, n].
 *   dL/dA = dL/dC B^T,   dL/dB = A^T dL/dC
 * A transposed view (such as B^T in backward) is passed to the kernel as a flag, not copied.
 */
import { Context, Function } from '../autograd';
import type { Buf } from '../backend/backend';
import { Tensor } from '../tensor';
import { broadcastShapes, sameBackend } from './util';

/** The last two dims of t as a matrix buffer: dense, or dense-transposed (read with a flag). */
function matrixOperand(t: Tensor, batchShape: number[]): { buf: Buf; trans: boolean; broadcast: boolean } {
  const nd = t.ndim;
  const ownBatch = t.shape.slice(0, nd - 2);
  const broadcast = ownBatch.every((s) => s === 1);
  const [r, c] = t.shape.slice(nd - 2);
  const target = broadcast ? t.reshape([r, c]) : t.expand([...batchShape, r, c]);
  // A permuted view whose last two axes are swapped relative to dense storage: read it transposed.
  const swapped = target.transpose(-2, -1);
  if (!target.isContiguous() && swapped.isContiguous() && swapped.offset === 0 && swapped.storage.size === swapped.size) {
    return { buf: swapped.storage.buf, trans: true, broadcast };
  }
  return { buf: target.denseBuf(), trans: false, broadcast };
}

export class MatMul extends Function {
  forward(ctx: Context, a: Tensor, b: Tensor) {
    sameBackend('matmul', a, b);
    if (a.ndim < 2 || b.ndim < 2) throw new Error(`matmul: expects tensors of at least 2 dims, got [${a.shape}] x [${b.shape}]`);
    const [m, k] = a.shape.slice(-2);
    const [k2, n] = b.shape.slice(-2);
    if (k !== k2) throw new Error(`matmul: inner dimensions differ: [${a.shape}] x [${b.shape}]`);
    const batchShape = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'matmul');
    const batch = batchShape.reduce((p, s) => p * s, 1);
    const A = matrixOperand(a, batchShape);
    const B = matrixOperand(b, batchShape);
    ctx.saveForBackward(a, b);
    const buf = a.backend.matmul(A.buf, B.buf, {
      batch, m, k, n, transA: A.trans, transB: B.trans, broadcastA: A.broadcast, broadcastB: B.broadcast,
    });
    return Tensor.fromBuf(buf, [...batchShape, m, n], a.backend);
  }
  backward(ctx: Context, g: Tensor) {
    const [a, b] = ctx.saved;
    return [
      ctx.needsInputGrad[0] ? g.matmul(b.transpose(-2, -1)) : null,
      ctx.needsInputGrad[1] ? a.transpose(-2, -1).matmul(g) : null,
    ];
  }
}

/** matmul that also takes vectors: a 1-D left operand is a row, a 1-D right operand a column (as numpy). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim === 0 || b.ndim === 0) throw new Error(`matmul: scalars are not matrices: [${a.shape}] x [${b.shape}]`);
  const a2 = a.ndim === 1 ? a.unsqueeze(0) : a;
  const b2 = b.ndim === 1 ? b.unsqueeze(1) : b;
  let out = MatMul.apply(a2, b2);
  if (b.ndim === 1) out = out.squeeze(-1);
  if (a.ndim === 1) out = out.squeeze(out.ndim === 1 ? 0 : -2);
  return out;
}
