/**
 * Exponential moving average of the weights (Polyak averaging), which DDPM samples from
 * (Ho et al. 2020, appendix B: decay 0.9999):
 *   shadow = decay_t * shadow + (1 - decay_t) * param     after every optimizer step
 * With the warmup, decay_t = min(decay, (1 + t) / (10 + t)), t = number of updates so far
 * including this one (as latent-diffusion's LitEma): early on the average follows the
 * fast-changing weights closely instead of remembering the random initialisation.
 */
import { noGrad } from '../autograd';
import type { Module } from '../nn/module';
import { Tensor } from '../tensor';

export interface EMAOptions {
  /** default 0.9999 */
  decay?: number;
  /** use the (1 + t) / (10 + t) warmup (default true) */
  warmup?: boolean;
}

export interface EMAStateDict {
  decay: number;
  warmup: boolean;
  numUpdates: number;
  /** parameter name -> averaged value */
  tensors: Record<string, Tensor>;
}

export class EMA {
  decay: number;
  warmup: boolean;
  numUpdates = 0;
  /** parameter name -> averaged value, starting as a copy of the model */
  readonly shadow = new Map<string, Tensor>();
  private stored: Map<string, Tensor> | null = null;

  constructor(model: Module, opts: EMAOptions = {}) {
    this.decay = opts.decay ?? 0.9999;
    this.warmup = opts.warmup ?? true;
    if (!(this.decay >= 0 && this.decay <= 1)) throw new Error(`EMA: decay must be in [0, 1], got ${this.decay}`);
    noGrad(() => {
      for (const [name, p] of model.namedParameters()) this.shadow.set(name, p.clone());
    });
  }

  /** The decay used by update number t (t = 1 for the first update). */
  decayAt(t: number): number {
    return this.warmup ? Math.min(this.decay, (1 + t) / (10 + t)) : this.decay;
  }

  /** Fold the model's current weights into the average; returns the decay used. */
  update(model: Module): number {
    this.numUpdates++;
    const d = this.decayAt(this.numUpdates);
    noGrad(() => {
      for (const [name, p] of this.paramsOf(model, 'update')) {
        const s = this.shadow.get(name)!;
        this.shadow.set(name, s.sub(s.sub(p).mul(1 - d))); // s - (1 - d)(s - p) = d s + (1 - d) p
      }
    });
    return d;
  }

  /** Write the averaged weights into `model` (e.g. a separate model for sampling). */
  copyTo(model: Module): void {
    noGrad(() => {
      for (const [name, p] of this.paramsOf(model, 'copyTo')) p.assign_(this.shadow.get(name)!.clone());
    });
  }

  /** Keep a copy of the model's own weights, to put back with restore() (evaluate with EMA, then continue training). */
  store(model: Module): void {
    this.stored = new Map(noGrad(() => model.namedParameters().map(([n, p]) => [n, p.clone()] as [string, Tensor])));
  }

  restore(model: Module): void {
    if (!this.stored) throw new Error('EMA.restore: nothing stored; call store(model) first');
    const stored = this.stored;
    noGrad(() => {
      for (const [name, p] of model.namedParameters()) {
        const s = stored.get(name);
        if (!s) throw new Error(`EMA.restore: no stored value for '${name}'`);
        p.assign_(s);
      }
    });
    this.stored = null;
  }

  stateDict(): EMAStateDict {
    return { decay: this.decay, warmup: this.warmup, numUpdates: this.numUpdates, tensors: Object.fromEntries(this.shadow) };
  }

  loadStateDict(dict: EMAStateDict): void {
    for (const [name, t] of Object.entries(dict.tensors)) {
      const own = this.shadow.get(name);
      if (!own) throw new Error(`EMA.loadStateDict: '${name}' is not a parameter of the averaged model`);
      if (own.shape.join() !== t.shape.join()) throw new Error(`EMA.loadStateDict: shape mismatch for '${name}': [${t.shape}] in the state, [${own.shape}] in the model`);
    }
    const missing = [...this.shadow.keys()].filter((n) => !(n in dict.tensors));
    if (missing.length) throw new Error(`EMA.loadStateDict: missing averaged values for ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
    this.decay = dict.decay;
    this.warmup = dict.warmup;
    this.numUpdates = dict.numUpdates;
    for (const [name, t] of Object.entries(dict.tensors)) this.shadow.set(name, t.clone());
  }

  /** The model's parameters, checked against the averaged ones by name and shape. */
  private paramsOf(model: Module, op: string): [string, Tensor][] {
    const params = model.namedParameters();
    for (const [name, p] of params) {
      const s = this.shadow.get(name);
      if (!s) throw new Error(`EMA.${op}: the model has a parameter '${name}' that the average does not`);
      if (s.shape.join() !== p.shape.join()) throw new Error(`EMA.${op}: shape mismatch for '${name}': [${s.shape}] averaged, [${p.shape}] in the model`);
    }
    if (params.length !== this.shadow.size) throw new Error(`EMA.${op}: the model has ${params.length} parameters, the average ${this.shadow.size}`);
    return params;
  }
}
