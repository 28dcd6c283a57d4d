/** Losses, as compositions of ops. */
import { Tensor } from '../tensor';

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(x: Tensor, reduction: Reduction, op: string): Tensor {
  if (reduction === 'mean') return x.mean();
  if (reduction === 'sum') return x.sum();
  if (reduction === 'none') return x;
  throw new Error(`${op}: reduction must be 'mean', 'sum' or 'none', got '${reduction}'`);
}

/** Mean squared error: mean((pred - target)^2), the DDPM training loss (Ho et al. 2020, eq. 14). */
export function mseLoss(pred: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (pred.shape.join() !== target.shape.join()) throw new Error(`mseLoss: prediction [${pred.shape}] and target [${target.shape}] differ in shape`);
  return reduce(pred.sub(target).square(), reduction, 'mseLoss');
}

/**
 * Cross-entropy of logits [N, C] against integer class labels (N of them):
 * -mean_i log softmax(logits_i)[label_i]. The labels select entries through a one-hot mask.
 */
export function crossEntropy(logits: Tensor, labels: ArrayLike<number>, reduction: Reduction = 'mean'): Tensor {
  if (logits.ndim !== 2) throw new Error(`crossEntropy: logits must be [N, C], got [${logits.shape}]`);
  const [n, c] = logits.shape;
  if (labels.length !== n) throw new Error(`crossEntropy: ${labels.length} labels for ${n} rows of logits [${logits.shape}]`);
  const oneHot = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!(Number.isInteger(y) && y >= 0 && y < c)) throw new Error(`crossEntropy: label ${y} at row ${i} is not a class index in [0, ${c})`);
    oneHot[i * c + y] = 1;
  }
  const mask = Tensor.fromBuf(logits.backend.fromArray(oneHot), [n, c], logits.backend);
  const nll = logits.logSoftmax(1).mul(mask).sum(1).neg(); // [N]
  return reduce(nll, reduction, 'crossEntropy');
}
