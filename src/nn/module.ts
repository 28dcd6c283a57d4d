/**
 * Module: a layer, or a network of layers, that owns parameters.
 *
 * A module registers its parameters (`registerParameter`) and its sub-modules
 * (`registerModule`) under names; the dotted path from the root is a parameter's name in a
 * checkpoint: `down1.res.conv1.weight` is parameter `weight` of module `conv1` of module
 * `res` of module `down1`. Registration is explicit, so the checkpoint names are written in
 * the code that builds the network:
 *
 *   class Linear extends Module {
 *     readonly weight = this.registerParameter('weight', ...);  // [out, in]
 *     forward(x: Tensor): Tensor { ... }
 *   }
 *
 * Everything else (parameters(), stateDict(), zeroGrad(), train()/eval()) walks that tree.
 */
import { noGrad } from '../autograd';
import { Tensor } from '../tensor';
import { SummaryInput, summarize } from './summary';

/** Parameter name -> tensor, in registration order (the layout of a checkpoint). */
export type StateDict = Record<string, Tensor>;

export interface LoadStateDictOptions {
  /**
   * true (default): every parameter of the module must be in the dict and every key of the
   * dict must be a parameter, or nothing is loaded and an error lists the differences.
   * false: load the keys that match, report the rest.
   */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

const fmt = (shape: number[]) => `[${shape.join(', ')}]`;

export class Module {
  /** Whether the module is in training mode (Dropout is active) or evaluation mode. */
  training = true;
  private readonly _parameters = new Map<string, Tensor>();
  private readonly _modules = new Map<string, Module>();

  /**
   * The computation. Subclasses override it with their own signature (a Module without a
   * forward, such as ModuleList, is only a container).
   */
  forward(..._args: any[]): any {
    throw new Error(`${this.constructor.name}: this module has no forward(); it is a container`);
  }

  // ---------------------------------------------------------------- registration

  /** Own `tensor` as parameter `name` (it will require grad). Returns the tensor. */
  registerParameter(name: string, tensor: Tensor): Tensor {
    this.checkNewName(name, 'registerParameter');
    if (!(tensor instanceof Tensor)) throw new Error(`registerParameter: '${name}' must be a Tensor`);
    if (tensor.gradFn) throw new Error(`registerParameter: '${name}' must be a leaf tensor (not the result of an op); detach() it first`);
    tensor.requiresGrad = true;
    tensor.name = name;
    this._parameters.set(name, tensor);
    return tensor;
  }

  /** Own `module` as sub-module `name`. Returns the module. */
  registerModule<M extends Module>(name: string, module: M): M {
    this.checkNewName(name, 'registerModule');
    if (!(module instanceof Module)) throw new Error(`registerModule: '${name}' must be a Module`);
    this._modules.set(name, module);
    return module;
  }

  private checkNewName(name: string, where: string): void {
    if (typeof name !== 'string' || name === '' || name.includes('.')) {
      throw new Error(`${where}: a name must be a non-empty string without dots, got '${name}'`);
    }
    if (this._parameters.has(name) || this._modules.has(name)) {
      throw new Error(`${where}: ${this.constructor.name} already has a parameter or module named '${name}'`);
    }
  }

  // ---------------------------------------------------------------- walking the tree

  /** The direct sub-modules, [name, module]. */
  namedChildren(): [string, Module][] {
    return [...this._modules.entries()];
  }

  children(): Module[] {
    return [...this._modules.values()];
  }

  /** The sub-module at a dotted path, e.g. `model.getModule('down1.res')`. */
  getModule(path: string): Module {
    let m: Module = this;
    for (const part of path.split('.')) {
      const next = m._modules.get(part);
      if (!next) throw new Error(`getModule: ${this.constructor.name} has no module '${path}' (no '${part}' in ${m.constructor.name})`);
      m = next;
    }
    return m;
  }

  /** This module and all below it, depth first in registration order; the root is named ''. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this._modules) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** Every parameter with its dotted name: own parameters first, then each sub-module's. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, p] of this._parameters) out.push([prefix ? `${prefix}.${name}` : name, p]);
    for (const [name, child] of this._modules) out.push(...child.namedParameters(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Total number of scalar parameters. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  // ---------------------------------------------------------------- modes and gradients

  /** Training mode (default) or, with `false`, evaluation mode, for this module and all below. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Evaluation mode: Dropout becomes the identity. */
  eval(): this {
    return this.train(false);
  }

  /** Forget every parameter's gradient (call before each backward of a training step). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  // ---------------------------------------------------------------- checkpoints

  /**
   * Name -> parameter value (detached: no graph), in registration order. Updates replace a
   * parameter's storage (assign_) rather than writing into it, so this is a snapshot.
   */
  stateDict(): StateDict {
    const out: StateDict = {};
    for (const [name, p] of this.namedParameters()) out[name] = p.detach();
    return out;
  }

  /**
   * Copy the values of `dict` into the parameters (same objects, so an optimizer that holds
   * them keeps working). Everything is checked before anything is copied: a dict that does
   * not fit leaves the module unchanged.
   */
  loadStateDict(dict: StateDict, opts: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const own = new Map(this.namedParameters());
    const missingKeys = [...own.keys()].filter((k) => !(k in dict));
    const unexpectedKeys = Object.keys(dict).filter((k) => !own.has(k));
    const where = `loadStateDict (${this.constructor.name})`;
    for (const [name, p] of own) {
      const v = dict[name];
      if (v === undefined) continue;
      if (!(v instanceof Tensor)) throw new Error(`${where}: '${name}' is not a Tensor`);
      if (v.shape.join() !== p.shape.join()) {
        throw new Error(`${where}: shape mismatch for '${name}': ${fmt(v.shape)} in the state dict, ${fmt(p.shape)} in the model`);
      }
    }
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      const list = (keys: string[]) => keys.slice(0, 8).join(', ') + (keys.length > 8 ? `, ... (${keys.length - 8} more)` : '');
      const parts: string[] = [];
      if (missingKeys.length) parts.push(`missing keys (${missingKeys.length}): ${list(missingKeys)}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys (${unexpectedKeys.length}): ${list(unexpectedKeys)}`);
      throw new Error(`${where}: the state dict does not fit the model: ${parts.join('; ')}`);
    }
    noGrad(() => {
      for (const [name, p] of own) {
        const v = dict[name];
        if (v === undefined) continue;
        // a tensor from another backend comes over through the host
        p.assign_(v.backend === p.backend ? v.clone() : Tensor.fromBuf(p.backend.fromArray(v.toArray()), v.shape, p.backend));
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  // ---------------------------------------------------------------- display

  /**
   * Run one forward pass on zeros of the given shapes (or on the given tensors) and print a
   * table of every layer's output shape and parameter count, then the totals; returns the
   * table. Runs in eval mode without a graph and leaves the module as it was.
   *   model.summary([1, 1, 28, 28], [1])   // a UNet: image batch and timesteps
   */
  summary(...inputs: SummaryInput[]): string {
    const text = summarize(this, inputs);
    console.log(text);
    return text;
  }

  toString(): string {
    const lines: string[] = [];
    const walk = (m: Module, name: string, depth: number) => {
      const own = [...m._parameters.entries()].map(([n, p]) => `${n} ${fmt(p.shape)}`).join(', ');
      lines.push(`${'  '.repeat(depth)}${name ? name + ': ' : ''}${m.constructor.name}${own ? ` (${own})` : ''}`);
      for (const [n, c] of m._modules) walk(c, n, depth + 1);
    };
    walk(this, '', 0);
    return lines.join('\n');
  }
}

/** A list of modules registered as '0', '1', ...: for blocks built in a loop. */
export class ModuleList extends Module {
  private readonly items: Module[] = [];

  constructor(modules: Module[] = []) {
    super();
    for (const m of modules) this.append(m);
  }

  append(module: Module): this {
    this.registerModule(String(this.items.length), module);
    this.items.push(module);
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  at<M extends Module = Module>(i: number): M {
    const m = this.items[i < 0 ? this.items.length + i : i];
    if (!m) throw new Error(`ModuleList.at: index ${i} is out of range for ${this.items.length} modules`);
    return m as M;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.items[Symbol.iterator]();
  }
}

/** Modules applied one after another, named '0', '1', ... (like torch.nn.Sequential). */
export class Sequential extends ModuleList {
  constructor(...modules: Module[]) {
    super(modules);
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const m of this) h = m.forward(h);
    return h;
  }
}
