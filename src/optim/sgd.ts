/**
 * Stochastic gradient descent with momentum (Polyak 1964; Sutskever et al. 2013 for the
 * Nesterov form), written as PyTorch's SGD so that numbers agree:
 *   g = grad + weightDecay * p                  L2 penalty
 *   b = momentum * b + (1 - dampening) * g      (b = g on the first step)
 *   d = nesterov ? g + momentum * b : b
 *   p = p - lr * d
 */
import { noGrad } from '../autograd';
import { Optimizer, ParamsInput } from './optimizer';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export class SGD extends Optimizer {
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;

  constructor(params: ParamsInput, opts: SGDOptions) {
    super(params, opts.lr);
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.weightDecay = opts.weightDecay ?? 0;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) throw new Error('SGD: nesterov needs momentum > 0 and dampening 0');
  }

  step(): void {
    noGrad(() => {
      for (const [name, p] of this.namedParams) {
        if (!p.grad) continue;
        let g = p.grad;
        if (this.weightDecay !== 0) g = g.add(p.mul(this.weightDecay));
        if (this.momentum !== 0) {
          const first = !this.state.get(name)?.has('momentum');
          const prev = this.stateTensor(name, 'momentum', p);
          const b = first ? g : prev.mul(this.momentum).add(g.mul(1 - this.dampening));
          this.setStateTensor(name, 'momentum', b);
          g = this.nesterov ? g.add(b.mul(this.momentum)) : b;
        }
        p.assign_(p.sub(g.mul(this.lr)));
      }
    });
    this.stepCount++;
  }

  protected hyperparameters() {
    return { lr: this.lr, momentum: this.momentum, dampening: this.dampening, nesterov: this.nesterov, weightDecay: this.weightDecay };
  }

  protected setHyperparameters(h: Record<string, number | boolean>): void {
    this.lr = h.lr as number;
    this.momentum = h.momentum as number;
    this.dampening = h.dampening as number;
    this.nesterov = h.nesterov as boolean;
    this.weightDecay = h.weightDecay as number;
  }
}
