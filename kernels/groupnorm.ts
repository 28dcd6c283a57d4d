/**
 * GroupNorm (Wu & He 2018) as a few kernels, forward and backward side by side. x is
 * [n, c, hw]: image b, channel ch, position j at (b * c + ch) * hw + j. The c channels form
 * `groups` groups of perGroup = c / groups consecutive channels, so each (image, group) is
 * L = perGroup * hw consecutive elements: "row" b * groups + g of an [n * groups, L] matrix.
 *
 * Forward (src/backend/gpujs/backend.ts groupNormForward):
 *   mean[row] = sum(x[row, :]) / L                      row sums (reduce.ts), then groupNormMean
 *   rstd[row] = 1 / sqrt(sum((x[row, :] - mean)^2) / L + eps)
 *                                                       groupNormSquaredDeviation, row sums, groupNormRstd
 *   y = (x - mean[row]) * rstd[row] * weight[ch] + bias[ch]          groupNormNormalize
 * Backward, with xhat = (x - mean) * rstd and g = dL/dy * weight[ch] (the gradient in xhat):
 *   s1[b, ch] = sum_j dL/dy,  s2[b, ch] = sum_j dL/dy * xhat         row sums of [n * c, hw]
 *   dL/dbias[ch] = sum_b s1[b, ch],  dL/dweight[ch] = sum_b s2[b, ch] channelSum (reduce.ts)
 *   A[row] = mean over the group of g        = sum_{ch in g} weight[ch] s1[b, ch] / L
 *   B[row] = mean over the group of g * xhat = sum_{ch in g} weight[ch] s2[b, ch] / L
 *                                                                     groupNormGroupMean
 *   dL/dx = rstd * (g - A - xhat * B)                                 groupNormBackwardInput
 *
 * The full-size kernels run on an [hw, n * c] grid: thread.y is the (image, channel) plane, so
 * everything indexed by channel or group is one load shared by a SIMD quad on webasm, and
 * `x[this.thread.x + plane * hw]` is a vector load (src/backend/gpujs/webasm-codegen-patch.ts).
 * Compared with GroupNorm composed of elementwise ops (src/ops/norm.ts groupNormComposed: ~10
 * full-size passes forward, ~20 backward, most with broadcast reads) this writes 2 full-size
 * arrays forward and 2 backward.
 */
import type { GroupNormParams } from '../src/backend/backend';
import { floorDivSource, type KernelSpec } from './kernel';

/** The (image, channel) plane of this thread, its channel, and its group row: shared by the full-size kernels. */
const PLANE_SOURCE = `const plane = this.thread.y;
  ${floorDivSource('image', 'plane', 'this.constants.c')}
  const channel = plane - image * this.constants.c;
  ${floorDivSource('group', 'channel', 'this.constants.perGroup')}
  const row = image * this.constants.groups + group;
  const at = plane * this.constants.hw;`;

function planeConstants(p: GroupNormParams): Record<string, number> {
  return { c: p.c, perGroup: p.c / p.groups, groups: p.groups, hw: p.hw };
}

/** mean[row] = sums[row] / L. Called with (sums). */
export function groupNormMeanSpec(rows: number, L: number): KernelSpec {
  const source = `function groupNormMean(sums) {
  return sums[this.thread.x] / this.constants.L;
}`;
  return { name: 'groupNorm.mean', source, output: [rows], constants: { L } };
}

/** (x - mean[row])^2 over [n * groups, L], as an [L, rows] grid. Called with (x, mean). */
export function groupNormSquaredDeviationSpec(rows: number, L: number): KernelSpec {
  const source = `function groupNormSquaredDeviation(x, mean) {
  const at = this.thread.y * this.constants.L;
  const d = x[this.thread.x + at] - mean[this.thread.y];
  return d * d;
}`;
  return { name: 'groupNorm.squaredDeviation', source, output: [L, rows], constants: { L } };
}

/** rstd[row] = 1 / sqrt(squaredDeviationSums[row] / L + eps). Called with (squaredDeviationSums). */
export function groupNormRstdSpec(rows: number, L: number, eps: number): KernelSpec {
  const source = `function groupNormRstd(ss) {
  return 1 / Math.sqrt(ss[this.thread.x] / this.constants.L + this.constants.eps);
}`;
  return { name: 'groupNorm.rstd', source, output: [rows], constants: { L, eps } };
}

/** y = (x - mean[row]) * rstd[row] * weight[ch] + bias[ch]. Called with (x, mean, rstd, weight, bias). */
export function groupNormNormalizeSpec(p: GroupNormParams): KernelSpec {
  const source = `function groupNormNormalize(x, mean, rstd, weight, bias) {
  ${PLANE_SOURCE}
  return (x[this.thread.x + at] - mean[row]) * rstd[row] * weight[channel] + bias[channel];
}`;
  return { name: 'groupNorm.normalize', source, output: [p.hw, p.n * p.c], constants: planeConstants(p) };
}

/** dL/dy * xhat, whose row sums over [n * c, hw] are s2. Called with (gy, x, mean, rstd). */
export function groupNormGradXhatSpec(p: GroupNormParams): KernelSpec {
  const source = `function groupNormGradXhat(gy, x, mean, rstd) {
  ${PLANE_SOURCE}
  return gy[this.thread.x + at] * ((x[this.thread.x + at] - mean[row]) * rstd[row]);
}`;
  return { name: 'groupNorm.gradXhat', source, output: [p.hw, p.n * p.c], constants: planeConstants(p) };
}

/** out[row] = sum_{ch in the group} weight[ch] * s[b, ch] / L: A from s1, B from s2. Called with (s, weight). */
export function groupNormGroupMeanSpec(p: GroupNormParams): KernelSpec {
  const source = `function groupNormGroupMean(s, weight) {
  ${floorDivSource('image', 'this.thread.x', 'this.constants.groups')}
  const group = this.thread.x - image * this.constants.groups;
  let total = 0;
  for (let k = 0; k < this.constants.perGroup; k++) {
    const channel = group * this.constants.perGroup + k;
    total += weight[channel] * s[image * this.constants.c + channel];
  }
  return total / this.constants.L;
}`;
  const perGroup = p.c / p.groups;
  return { name: 'groupNorm.groupMean', source, output: [p.n * p.groups], constants: { groups: p.groups, perGroup, c: p.c, L: perGroup * p.hw } };
}

/** dL/dx = rstd * (dL/dy * weight[ch] - A[row] - xhat * B[row]). Called with (gy, x, mean, rstd, weight, A, B). */
export function groupNormBackwardInputSpec(p: GroupNormParams): KernelSpec {
  const source = `function groupNormBackwardInput(gy, x, mean, rstd, weight, meanG, meanGXhat) {
  ${PLANE_SOURCE}
  const r = rstd[row];
  const xhat = (x[this.thread.x + at] - mean[row]) * r;
  return r * (gy[this.thread.x + at] * weight[channel] - meanG[row] - xhat * meanGXhat[row]);
}`;
  return { name: 'groupNorm.backwardInput', source, output: [p.hw, p.n * p.c], constants: planeConstants(p) };
}
