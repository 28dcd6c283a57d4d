/**
 * Gradient clipping by global norm (Pascanu et al. 2013): if the gradients of all parameters,
 * seen as one long vector, are longer than maxNorm, scale them all down to length maxNorm.
 * The direction of the step is kept; only its size is capped.
 */
import { noGrad } from '../autograd';
import { Tensor } from '../tensor';

/** Clip in place (replaces each .grad) and return the total norm before clipping. */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, eps = 1e-6): number {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const withGrad = [...params].filter((p) => p.grad);
  if (withGrad.length === 0) return 0;
  return noGrad(() => {
    // one read-back for the whole norm: sum the squares on the device first
    let sumSquares: Tensor | null = null;
    for (const p of withGrad) {
      const s = p.grad!.square().sum();
      sumSquares = sumSquares ? sumSquares.add(s) : s;
    }
    const total = Math.sqrt(sumSquares!.item());
    const scale = maxNorm / (total + eps); // as torch.nn.utils.clip_grad_norm_
    if (scale < 1) for (const p of withGrad) p.grad = p.grad!.mul(scale);
    return total;
  });
}
