/**
 * Sinusoidal timestep features (Vaswani et al. 2017, section 3.5; used for t by Ho et al. 2020):
 *   features(t) = [sin(t f_0), ..., sin(t f_{h-1}), cos(t f_0), ..., cos(t f_{h-1})]
 *   f_i = exp(-ln(10000) * i / h),  h = features / 2
 * Low i turn fast with t, high i slowly, so nearby timesteps get nearby but distinct codes.
 */
import { Tensor } from '../tensor';
import { Module } from './module';

/** Timesteps [B] (floats) -> features [B, features]. */
export function sinusoidalEmbedding(t: Tensor, features: number): Tensor {
  if (!(Number.isInteger(features) && features >= 2 && features % 2 === 0)) {
    throw new Error(`sinusoidalEmbedding: features must be an even integer >= 2, got ${features}`);
  }
  if (t.ndim !== 1) throw new Error(`sinusoidalEmbedding: timesteps must be a 1-d tensor [B], got [${t.shape}]`);
  // t is data, not a parameter: computed on the host in float64, so sin(500 f) keeps float32 accuracy.
  const ts = t.toArray();
  const half = features / 2;
  const out = new Float32Array(ts.length * features);
  for (let b = 0; b < ts.length; b++) {
    for (let i = 0; i < half; i++) {
      const arg = ts[b] * Math.exp((-Math.log(10000) * i) / half);
      out[b * features + i] = Math.sin(arg);
      out[b * features + half + i] = Math.cos(arg);
    }
  }
  return Tensor.fromBuf(t.backend.fromArray(out), [ts.length, features], t.backend);
}

/** The same as a module without parameters (for Sequential and summaries). */
export class SinusoidalEmbedding extends Module {
  constructor(readonly features: number) {
    super();
  }

  forward(t: Tensor): Tensor {
    return sinusoidalEmbedding(t, this.features);
  }
}
