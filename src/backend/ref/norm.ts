/**
 * Reference GroupNorm, forward and backward, as plain loops over [n, c, hw] (see
 * GroupNormParams). Sums are accumulated in float64, as the definition; results are float32.
 * With p.silu the output is SiLU of the GroupNorm (rounded to float32 first, as the two ops
 * one after the other would store it), and the backward starts from SiLU's gradient.
 */
import type { GroupNormParams } from '../backend';
import { BINARY_FNS, UNARY_FNS } from './elementwise';

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
          const z = (x[i] - mu) * r * weight[ch] + bias[ch];
          y[i] = p.silu ? UNARY_FNS.silu(Math.fround(z), 0, 0) : z;
        }
      }
    }
  }
  return { y, mean, rstd };
}

export function groupNormBackward(gyOut: Float32Array, x: Float32Array, mean: Float32Array, rstd: Float32Array, weight: Float32Array, p: GroupNormParams, bias?: Float32Array) {
  const { n, c, groups, hw } = p;
  const perGroup = c / groups;
  const L = perGroup * hw;
  const gy = p.silu ? siluGradOfGroupNorm(gyOut, x, mean, rstd, weight, bias, p) : gyOut;
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

/** With p.silu: dL/dz = dL/dy * SiLU'(z) for z = the GroupNorm's output, recomputed from x and the statistics (as float32). */
function siluGradOfGroupNorm(gy: Float32Array, x: Float32Array, mean: Float32Array, rstd: Float32Array, weight: Float32Array, bias: Float32Array | undefined, p: GroupNormParams): Float32Array {
  if (!bias) throw new Error('groupNormBackward: a GroupNorm fused with SiLU needs its bias in the backward pass');
  const { n, c, groups, hw } = p;
  const perGroup = c / groups;
  const gz = new Float32Array(n * c * hw);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const row = b * groups + Math.floor(ch / perGroup);
      for (let j = 0; j < hw; j++) {
        const i = (b * c + ch) * hw + j;
        const z = Math.fround((x[i] - mean[row]) * rstd[row] * weight[ch] + bias[ch]);
        gz[i] = BINARY_FNS.siluGrad(gy[i], z);
      }
    }
  }
  return gz;
}
