/**
 * Normalization layers as compositions of ops: their gradients come from the ops' own rules.
 *   y = (x - mean) / sqrt(var + eps) * weight + bias,   var biased (divide by n)
 */
import { Tensor } from '../tensor';

/**
 * GroupNorm (Wu & He 2018): x [N, C, ...] split into `groups` groups of C/groups channels;
 * mean and variance per (sample, group) over those channels and all positions.
 */
export function groupNorm(x: Tensor, groups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  if (x.ndim < 2) throw new Error(`groupNorm: input must be [N, C, ...], got [${x.shape}]`);
  const [n, c] = x.shape;
  if (!(Number.isInteger(groups) && groups >= 1) || c % groups !== 0) {
    throw new Error(`groupNorm: ${c} channels cannot be split into ${groups} groups (input [${x.shape}])`);
  }
  const grouped = x.reshape([n, groups, -1]); // [N, G, C/G * positions]
  const mean = grouped.mean(2, true);
  const centered = grouped.sub(mean);
  const variance = centered.square().mean(2, true);
  const normalized = centered.mul(variance.add(eps).rsqrt()).reshape(x.shape);
  const affineShape = [1, c, ...x.shape.slice(2).map(() => 1)];
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p && (p.ndim !== 1 || p.shape[0] !== c)) throw new Error(`groupNorm: ${name} must be [${c}], got [${p.shape}]`);
  }
  let y = normalized;
  if (weight) y = y.mul(weight.reshape(affineShape));
  if (bias) y = y.add(bias.reshape(affineShape));
  return y;
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
