/**
 * Optimizer: updates parameters from their gradients, one step() after each backward().
 *
 * Parameters are given as a list of tensors (`model.parameters()`) or of [name, tensor]
 * pairs (`model.namedParameters()`); with names, the optimizer's saved state is keyed by
 * parameter name (`m.down1.res.conv1.weight`), so a checkpoint reads clearly and a
 * mismatch names the parameter. Parameters are updated with `assign_`: the tensor objects
 * stay the same, so the model keeps seeing its parameters.
 */
import { Tensor } from '../tensor';

export type ParamsInput = Tensor[] | [string, Tensor][];

/** What an optimizer saves in a checkpoint. */
export interface OptimizerStateDict {
  /** 'SGD', 'Adam', 'AdamW' */
  type: string;
  /** optimizer steps taken */
  step: number;
  /** learning rate, betas, ... (plain JSON) */
  hyperparameters: Record<string, number | boolean>;
  /** per-parameter state, keyed `<state>.<parameter name>`, e.g. `m.conv_in.weight` */
  tensors: Record<string, Tensor>;
}

export abstract class Optimizer {
  /** the parameters, with names ('0', '1', ... when none were given) */
  readonly namedParams: [string, Tensor][];
  /** optimizer steps taken so far */
  stepCount = 0;
  /** per-parameter state tensors: state.get(name).get('m') */
  protected readonly state = new Map<string, Map<string, Tensor>>();

  constructor(
    params: ParamsInput,
    /** learning rate; a schedule may change it between steps */
    public lr: number,
  ) {
    if (!params || typeof (params as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw new Error(`${this.constructor.name}: expects a list of parameters, such as model.parameters() or model.namedParameters()`);
    }
    const list = Array.from(params as Iterable<Tensor | [string, Tensor]>);
    this.namedParams = list.map((p, i) => (p instanceof Tensor ? [String(i), p] : [p[0], p[1]]));
    if (this.namedParams.length === 0) throw new Error(`${this.constructor.name}: got an empty parameter list`);
    const names = new Set<string>();
    for (const [name, p] of this.namedParams) {
      if (!(p instanceof Tensor)) throw new Error(`${this.constructor.name}: parameter '${name}' is not a Tensor`);
      if (names.has(name)) throw new Error(`${this.constructor.name}: parameter name '${name}' appears twice`);
      names.add(name);
    }
    if (!(lr >= 0)) throw new Error(`${this.constructor.name}: lr must be >= 0, got ${lr}`);
  }

  get params(): Tensor[] {
    return this.namedParams.map(([, p]) => p);
  }

  /** Forget the gradients of every parameter. */
  zeroGrad(): void {
    for (const [, p] of this.namedParams) p.zeroGrad();
  }

  /** Update every parameter that has a gradient. */
  abstract step(): void;

  /** The hyperparameters to save (besides the step and the state tensors). */
  protected abstract hyperparameters(): Record<string, number | boolean>;
  protected abstract setHyperparameters(h: Record<string, number | boolean>): void;

  /** One state tensor of one parameter, created as zeros the first time. */
  protected stateTensor(name: string, key: string, like: Tensor): Tensor {
    let s = this.state.get(name);
    if (!s) this.state.set(name, (s = new Map()));
    let t = s.get(key);
    if (!t) s.set(key, (t = like.zerosLike()));
    return t;
  }

  protected setStateTensor(name: string, key: string, value: Tensor): void {
    this.state.get(name)!.set(key, value);
  }

  stateDict(): OptimizerStateDict {
    const tensors: Record<string, Tensor> = {};
    for (const [name] of this.namedParams) {
      for (const [key, t] of this.state.get(name) ?? []) tensors[`${key}.${name}`] = t;
    }
    return { type: this.constructor.name, step: this.stepCount, hyperparameters: this.hyperparameters(), tensors };
  }

  /** Restore step, hyperparameters and state; checked first, so a dict that does not fit changes nothing. */
  loadStateDict(dict: OptimizerStateDict): void {
    const me = this.constructor.name;
    if (dict.type !== me) throw new Error(`${me}.loadStateDict: the state is from a ${dict.type} optimizer, not ${me}`);
    const shapes = new Map(this.namedParams.map(([n, p]) => [n, p.shape]));
    const parsed: [string, string, Tensor][] = [];
    for (const [fullKey, t] of Object.entries(dict.tensors)) {
      const dot = fullKey.indexOf('.');
      const key = fullKey.slice(0, dot);
      const name = fullKey.slice(dot + 1);
      const shape = shapes.get(name);
      if (dot < 0 || !shape) throw new Error(`${me}.loadStateDict: state '${fullKey}' belongs to no parameter of this optimizer`);
      if (shape.join() !== t.shape.join()) {
        throw new Error(`${me}.loadStateDict: shape mismatch for '${fullKey}': [${t.shape}] in the state, [${shape}] for the parameter`);
      }
      parsed.push([name, key, t]);
    }
    this.setHyperparameters(dict.hyperparameters);
    this.stepCount = dict.step;
    this.state.clear();
    for (const [name, key, t] of parsed) {
      if (!this.state.has(name)) this.state.set(name, new Map());
      this.state.get(name)!.set(key, t.clone());
    }
  }
}
