/**
 * Gradient checking by central differences:  df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / 2h.
 * The error of the estimate is O(h^2), but float32 rounding adds about eps*|f|/h, so h is
 * kept moderate (1e-3 by default) and the comparison is tolerant.
 *
 * A non-scalar output is reduced to the scalar sum(out * r) with fixed random weights r, which
 * checks the whole Jacobian-vector product without one pass per output element.
 */
import { noGrad } from './autograd';
import { Generator } from './random';
import { Tensor } from './tensor';

export interface GradCheckOptions {
  /** finite-difference step h */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** check at most this many elements per input (chosen at random, seeded); default all */
  maxElements?: number;
  seed?: number;
}

export interface GradCheckResult {
  ok: boolean;
  maxAbsError: number;
  /** the worst element: which input, which flat index, the two derivatives */
  worst: { input: number; index: number; analytic: number; numeric: number } | null;
  checked: number;
}

export function gradCheck(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradCheckOptions = {}): GradCheckResult {
  const { eps = 1e-3, atol = 1e-2, rtol = 1e-2, maxElements = Infinity, seed = 0 } = opts;
  const gen = new Generator(seed);
  const leaves = inputs.map((t) => {
    const leaf = Tensor.fromBuf(t.backend.copyStrided(t.view(), t.shape), t.shape, t.backend);
    leaf.requiresGrad = true;
    return leaf;
  });
  const probe = noGrad(() => fn(...leaves));
  const weights = Tensor.fromBuf(probe.backend.fromArray(Float32Array.from({ length: probe.size }, () => gen.uniform() * 2 - 1)), probe.shape, probe.backend);
  const scalar = (...xs: Tensor[]) => fn(...xs).mul(weights).sum();

  scalar(...leaves).backward();
  const result: GradCheckResult = { ok: true, maxAbsError: 0, worst: null, checked: 0 };
  let worstExcess = -Infinity;
  leaves.forEach((leaf, k) => {
    const analytic = leaf.grad ? leaf.grad.toArray() : new Float32Array(leaf.size);
    const base = leaf.toArray();
    const indices = leaf.size <= maxElements ? [...Array(leaf.size).keys()] : gen.permutation(leaf.size).slice(0, maxElements);
    for (const i of indices) {
      const at = (delta: number) => {
        const moved = Float32Array.from(base);
        moved[i] += delta;
        const xs = leaves.map((l, j) => (j === k ? Tensor.fromBuf(l.backend.fromArray(moved), l.shape, l.backend) : l.detach()));
        return noGrad(() => scalar(...xs).item());
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      const err = Math.abs(numeric - analytic[i]);
      const excess = err - (atol + rtol * Math.abs(numeric));
      result.checked++;
      result.maxAbsError = Math.max(result.maxAbsError, err);
      if (excess > worstExcess) {
        worstExcess = excess;
        result.worst = { input: k, index: i, analytic: analytic[i], numeric };
      }
      if (excess > 0) result.ok = false;
    }
  });
  return result;
}

/** gradCheck that throws with the worst element when the check fails (for tests and assignments). */
export function assertGradCheck(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradCheckOptions = {}): GradCheckResult {
  const r = gradCheck(fn, inputs, opts);
  if (!r.ok && r.worst) {
    const w = r.worst;
    throw new Error(`gradCheck failed: input ${w.input} [${inputs[w.input].shape}] element ${w.index}: analytic ${w.analytic} vs numeric ${w.numeric}`);
  }
  return r;
}
