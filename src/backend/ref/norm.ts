/**
 * Reference GroupNorm, forward and backward, as plain loops over [n, c, hw] (see
 * GroupNormParams). Sums are accumulated in float64, as the definition; results are float32.
 */
import type { GroupNormParams } from '../backend';

export function groupNormForward(x: Float32Array, weight: Float32Array, bias: Float32Array, p: GroupNormParams) {
  const { n, c, groups, hw, eps } = p;
  const perGroup = c / groups; // channels in a group
  const L = perGroup * hw; // elements normalized together
  const y = new Float32Array(n * c * hw);
  const mean = new Float32Array(n * groups);
  const rstd = new Float32Array(n * groups);
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      const start = (b * c + g * perGroup) * hw; // a group is L consecutive elements
      let s = 0;
      for (let i = 0; i < L; i++) s += x[start + i];
      const mu = s / L;
      let ss = 0;
      for (let i = 0; i < L; i++) ss += (x[start + i] - mu) ** 2;
      const r = 1 / Math.sqrt(ss / L + eps);
      mean[b * groups + g] = mu;
      rstd[b * groups + g] = r;
      for (let k = 0; k < perGroup; k++) {
        const ch = g * perGroup + k;
        for (let j = 0; j < hw; j++) {
          const i = start + k * hw + j;
          y[i] = (x[i] - mu) * r * weight[ch] + bias[ch];
        }
      }
    }
  }
  return { y, mean, rstd };
}

export function groupNormBackward(gy: Float32Array, x: Float32Array, mean: Float32Array, rstd: Float32Array, weight: Float32Array, p: GroupNormParams) {
  const { n, c, groups, hw } = p;
  const perGroup = c / groups;
  const L = perGroup * hw;
  const gx = new Float32Array(n * c * hw);
  const gweight = new Float64Array(c);
  const gbias = new Float64Array(c);
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      const mu = mean[b * groups + g];
      const r = rstd[b * groups + g];
      const start = (b * c + g * perGroup) * hw;
      // mean over the group of g = dL/dxhat, and of g * xhat
      let meanG = 0;
      let meanGXhat = 0;
      for (let k = 0; k < perGroup; k++) {
        const ch = g * perGroup + k;
        for (let j = 0; j < hw; j++) {
          const i = start + k * hw + j;
          const xhat = (x[i] - mu) * r;
          meanG += gy[i] * weight[ch];
          meanGXhat += gy[i] * weight[ch] * xhat;
          gweight[ch] += gy[i] * xhat;
          gbias[ch] += gy[i];
        }
      }
      meanG /= L;
      meanGXhat /= L;
      for (let k = 0; k < perGroup; k++) {
        const ch = g * perGroup + k;
        for (let j = 0; j < hw; j++) {
          const i = start + k * hw + j;
          const xhat = (x[i] - mu) * r;
          gx[i] = r * (gy[i] * weight[ch] - meanG - xhat * meanGXhat);
        }
      }
    }
  }
  return { gx, gweight: Float32Array.from(gweight), gbias: Float32Array.from(gbias) };
}
