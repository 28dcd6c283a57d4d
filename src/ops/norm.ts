/**
 * Normalization layers:
 *   y = (x - mean) / sqrt(var + eps) * weight + bias,   var biased (divide by n)
 * GroupNorm is one op with its forward and backward written out (the UNet's hot path: its
 * kernels are kernels/groupnorm.ts); groupNormComposed and layerNorm are compositions of ops
 * whose gradients come from the ops' own rules, and the tests hold the two GroupNorms equal.
 */
import type { GroupNormParams } from '../backend/backend';
import { Context, Function } from '../autograd';
import { Tensor } from '../tensor';

function checkGroupNorm(x: Tensor, groups: number, weight?: Tensor | null, bias?: Tensor | null): void {
  if (x.ndim < 2) throw new Error(`groupNorm: input must be [N, C, ...], got [${x.shape}]`);
  const c = x.shape[1];
  if (!(Number.isInteger(groups) && groups >= 1) || c % groups !== 0) {
    throw new Error(`groupNorm: ${c} channels cannot be split into ${groups} groups (input [${x.shape}])`);
  }
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p && (p.ndim !== 1 || p.shape[0] !== c)) throw new Error(`groupNorm: ${name} must be [${c}], got [${p.shape}]`);
  }
}

/**
 * GroupNorm as one op. With xhat = (x - mean) * rstd per (image, group) of L elements,
 * y = xhat * weight + bias, and g = dL/dy * weight (the gradient in xhat):
 *   dL/dx      = rstd * (g - mean_group(g) - xhat * mean_group(g * xhat))
 *   dL/dweight = sum over images and positions of dL/dy * xhat;   dL/dbias = of dL/dy
 * (the mean term: every x moves the mean, which all L outputs subtract; the xhat term: every x
 * moves the variance, which scales all L outputs). The backend computes both
 * (Backend.groupNormForward / groupNormBackward).
 */
export class GroupNormOp extends Function {
  forward(ctx: Context, x: Tensor, weight: Tensor, bias: Tensor, groups: number, eps: number) {
    const [n, c] = x.shape;
    const p: GroupNormParams = { n, c, groups, hw: x.size / (n * c), eps };
    const r = x.backend.groupNormForward(x.denseBuf(), weight.denseBuf(), bias.denseBuf(), p);
    ctx.saveForBackward(x, weight, Tensor.fromBuf(r.mean, [n * groups], x.backend), Tensor.fromBuf(r.rstd, [n * groups], x.backend));
    ctx.p = p;
    return Tensor.fromBuf(r.y, x.shape, x.backend);
  }
  backward(ctx: Context, g: Tensor) {
    const [x, weight, mean, rstd] = ctx.saved;
    const p = ctx.p as GroupNormParams;
    const r = g.backend.groupNormBackward(g.denseBuf(), x.denseBuf(), mean.denseBuf(), rstd.denseBuf(), weight.denseBuf(), p);
    const c = [p.c];
    return [
      Tensor.fromBuf(r.gx, x.shape, g.backend),
      ctx.needsInputGrad[1] ? Tensor.fromBuf(r.gweight, c, g.backend) : null,
      ctx.needsInputGrad[2] ? Tensor.fromBuf(r.gbias, c, g.backend) : null,
    ];
  }
}

/**
 * GroupNorm (Wu & He 2018): x [N, C, ...] split into `groups` groups of C/groups channels;
 * mean and variance per (sample, group) over those channels and all positions. Without
 * weight or bias the affine step is weight 1, bias 0.
 */
export function groupNorm(x: Tensor, groups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  checkGroupNorm(x, groups, weight, bias);
  if (x.size === 0) return groupNormComposed(x, groups, weight, bias, eps);
  const c = x.shape[1];
  const constant = (v: number) => Tensor.fromBuf(x.backend.full(c, v), [c], x.backend);
  return GroupNormOp.apply(x, weight ?? constant(1), bias ?? constant(0), groups, eps);
}

/**
 * The same GroupNorm composed of elementwise ops and reductions, its gradient left to
 * autograd: the textbook form, and the check on GroupNormOp's hand-written backward.
 */
export function groupNormComposed(x: Tensor, groups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  checkGroupNorm(x, groups, weight, bias);
  const [n, c] = x.shape;
  // BEGIN SOLUTION 7
  const grouped = x.reshape([n, groups, -1]); // [N, G, C/G * positions]
  const mean = grouped.mean(2, true);
  const centered = grouped.sub(mean);
  const variance = centered.square().mean(2, true);
  const normalized = centered.mul(variance.add(eps).rsqrt()).reshape(x.shape);
  const affineShape = [1, c, ...x.shape.slice(2).map(() => 1)];
  let y = normalized;
  if (weight) y = y.mul(weight.reshape(affineShape));
  if (bias) y = y.add(bias.reshape(affineShape));
  return y;
  // END SOLUTION 7
}

/** LayerNorm (Ba et al. 2016) over the trailing dims `normalizedShape`. */
export function layerNorm(x: Tensor, normalizedShape: number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  const k = normalizedShape.length;
  const tail = x.shape.slice(x.ndim - k);
  if (k === 0 || k > x.ndim || tail.join() !== normalizedShape.join()) {
    throw new Error(`layerNorm: normalized shape [${normalizedShape}] does not match the trailing dims of [${x.shape}]`);
  }
  const axes = Array.from({ length: k }, (_, i) => x.ndim - k + i);
  const mean = x.mean(axes, true);
  const centered = x.sub(mean);
  const variance = centered.square().mean(axes, true);
  let y = centered.mul(variance.add(eps).rsqrt());
  if (weight) y = y.mul(weight);
  if (bias) y = y.add(bias);
  return y;
}
