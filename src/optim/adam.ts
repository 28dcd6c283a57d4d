/**
 * Adam (Kingma & Ba 2015, Algorithm 1) and AdamW (Loshchilov & Hutter 2019). At step t:
 *   m = beta1 m + (1 - beta1) g            running mean of the gradient
 *   v = beta2 v + (1 - beta2) g^2          running mean of its square
 *   m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)     bias correction: m, v start at 0
 *   p = p - lr m_hat / (sqrt(v_hat) + eps)
 * Weight decay: Adam adds weightDecay * p to g (an L2 penalty, which the moments then
 * rescale); AdamW instead shrinks p by lr * weightDecay * p directly ("decoupled").
 * The update of one parameter is one backend kernel (Backend.adamStep).
 */
import { Tensor } from '../tensor';
import { Optimizer, ParamsInput } from './optimizer';

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export class Adam extends Optimizer {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** true for AdamW: decay the weights directly instead of through the gradient */
  protected readonly decoupled: boolean = false;

  constructor(params: ParamsInput, opts: AdamOptions = {}) {
    super(params, opts.lr ?? 1e-3);
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    for (const [k, b] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new Error(`${this.constructor.name}: ${k} must be in [0, 1), got ${b}`);
    }
  }

  step(): void {
    const t = this.stepCount + 1;
    for (const [name, p] of this.namedParams) {
      if (!p.grad) continue;
      const m = this.stateTensor(name, 'm', p);
      const v = this.stateTensor(name, 'v', p);
      const out = p.backend.adamStep(p.denseBuf(), p.grad.denseBuf(), m.denseBuf(), v.denseBuf(), {
        size: p.size,
        lr: this.lr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: this.weightDecay,
        decoupled: this.decoupled,
        biasCorrection1: 1 - this.beta1 ** t,
        biasCorrection2: 1 - this.beta2 ** t,
      });
      p.assign_(Tensor.fromBuf(out.param, p.shape, p.backend));
      this.setStateTensor(name, 'm', Tensor.fromBuf(out.m, p.shape, p.backend));
      this.setStateTensor(name, 'v', Tensor.fromBuf(out.v, p.shape, p.backend));
    }
    this.stepCount = t;
  }

  protected hyperparameters() {
    return { lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay };
  }

  protected setHyperparameters(h: Record<string, number | boolean>): void {
    this.lr = h.lr as number;
    this.beta1 = h.beta1 as number;
    this.beta2 = h.beta2 as number;
    this.eps = h.eps as number;
    this.weightDecay = h.weightDecay as number;
  }
}

/** Adam with decoupled weight decay (default 0.01, as PyTorch's AdamW). */
export class AdamW extends Adam {
  protected readonly decoupled: boolean = true;

  constructor(params: ParamsInput, opts: AdamOptions = {}) {
    super(params, { weightDecay: 0.01, ...opts });
  }
}
