/**
 * Reverse-mode automatic differentiation over a recorded graph.
 *
 * Every differentiable op is a `Function` with `forward(ctx, ...)` and `backward(ctx, grad)`
 * side by side (see src/ops/). Calling `SomeOp.apply(...)` runs forward and, when an input
 * requires a gradient, records a `Node` on the output: the op, its context (what forward
 * saved) and its tensor inputs. `backward()` visits those nodes in reverse topological order
 * and applies the chain rule: each node turns the gradient of its output into gradients of
 * its inputs.
 *
 * This module imports Tensor for types only, so it can be loaded before tensor.ts.
 */
import type { Tensor } from './tensor';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run fn without recording a graph (like torch.no_grad): for evaluation and updates. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** What forward leaves for backward. */
export class Context {
  saved: Tensor[] = [];
  /** needsInputGrad[i]: whether tensor input i needs a gradient (backward may skip the rest) */
  needsInputGrad: boolean[] = [];
  /** any other values forward wants to pass on (shapes, axes, options) */
  [key: string]: unknown;

  saveForBackward(...tensors: Tensor[]): void {
    this.saved = tensors;
  }
}

export function isTensorLike(x: unknown): x is Tensor {
  return typeof x === 'object' && x !== null && (x as { __isTensor?: boolean }).__isTensor === true;
}

/** One recorded application of a Function: the output's `gradFn`. */
export class Node {
  released = false;
  constructor(
    readonly fn: Function,
    readonly ctx: Context,
    /** the tensor arguments of forward, in order */
    readonly inputs: Tensor[],
  ) {}

  get name(): string {
    return this.fn.constructor.name;
  }
}

export abstract class Function {
  /** Compute the output from the inputs. Runs with gradient recording off. */
  abstract forward(ctx: Context, ...args: any[]): Tensor;
  /**
   * Given dL/d(output), return dL/d(input) for each tensor argument of forward, in order
   * (null where no gradient is needed). A gradient may have the broadcast shape of the
   * output: the engine sums it back to the input's shape (see sumToShape).
   */
  abstract backward(ctx: Context, gradOutput: Tensor): (Tensor | null)[];

  static apply(this: new () => Function, ...args: any[]): Tensor {
    const fn = new this();
    const ctx = new Context();
    const inputs = args.filter(isTensorLike) as Tensor[];
    ctx.needsInputGrad = inputs.map((t) => t.requiresGrad);
    const out = noGrad(() => fn.forward(ctx, ...args));
    if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
      out.requiresGrad = true;
      out.gradFn = new Node(fn, ctx, inputs);
    }
    return out;
  }
}

/**
 * Sum a gradient of a broadcast shape back to the shape of the input that was broadcast
 * (the one place where NumPy broadcasting is undone): leading dims that broadcasting added
 * are summed away, and dims where the input had size 1 are summed with keepdim.
 */
export function sumToShape(grad: Tensor, shape: number[]): Tensor {
  const gs = grad.shape;
  if (gs.length === shape.length && gs.every((s, i) => s === shape[i])) return grad;
  // BEGIN SOLUTION 2
  const lead = gs.length - shape.length;
  const axes: number[] = [];
  for (let d = 0; d < gs.length; d++) {
    if (d < lead) axes.push(d);
    else if (shape[d - lead] === 1 && gs[d] !== 1) axes.push(d);
  }
  const summed = axes.length ? grad.sum(axes, true) : grad;
  return summed.reshape(shape);
  // END SOLUTION 2
}

/** Nodes reachable from root, ordered so that every node comes after all nodes that consume its output. */
function topologicalOrder(root: Node): Node[] {
  // BEGIN SOLUTION 3
  // Iterative post-order DFS (no recursion: a 10,000-op chain must not overflow the stack).
  const order: Node[] = [];
  const visited = new Set<Node>();
  const stack: [Node, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [node, i] = top;
    if (i < node.inputs.length) {
      top[1]++;
      const child = node.inputs[i].gradFn;
      if (child && !visited.has(child)) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(node); // all of node's inputs are already in `order`
    }
  }
  return order.reverse(); // root first, leaves' producers last
  // END SOLUTION 3
}

export interface BackwardOptions {
  /** keep the saved tensors so that backward can run through this graph again */
  retainGraph?: boolean;
}

/** dL/d(every leaf that requires grad), accumulated into leaf.grad. */
export function runBackward(root: Tensor, gradient: Tensor | undefined, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) {
    throw new Error(`backward: the tensor of shape [${root.shape}] does not require grad (no input had requiresGrad=true, or it was made under noGrad)`);
  }
  let seed: Tensor;
  if (gradient === undefined) {
    if (root.size !== 1) {
      throw new Error(`backward: a gradient can only be implied for a scalar output, got shape [${root.shape}]; pass backward(grad)`);
    }
    seed = root.onesLike();
  } else {
    if (gradient.shape.join() !== root.shape.join()) {
      throw new Error(`backward: gradient shape [${gradient.shape}] differs from the output shape [${root.shape}]`);
    }
    seed = gradient.detach();
  }
  noGrad(() => {
    if (!root.gradFn) {
      accumulateLeaf(root, seed);
      return;
    }
    const grads = new Map<Node, Tensor>([[root.gradFn, seed]]);
    for (const node of topologicalOrder(root.gradFn)) {
      const g = grads.get(node);
      grads.delete(node); // free each gradient once it has been used
      if (!g) continue;
      if (node.released) {
        throw new Error(`backward: the graph through ${node.name} was already freed by an earlier backward(); pass {retainGraph: true} to that call`);
      }
      const inputGrads = node.fn.backward(node.ctx, g);
      node.inputs.forEach((input, i) => {
        const gi = inputGrads[i];
        if (!input.requiresGrad || !gi) return;
        const reduced = sumToShape(gi, input.shape);
        if (input.gradFn) {
          const prev = grads.get(input.gradFn);
          grads.set(input.gradFn, prev ? prev.add(reduced) : reduced);
        } else {
          accumulateLeaf(input, reduced);
        }
      });
      if (!opts.retainGraph) {
        node.ctx.saved = [];
        node.released = true;
      }
    }
  });
}

/** Leaves accumulate: two backward calls without zeroing add their gradients (as in PyTorch). */
function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  const dense = g.contiguous();
  leaf.grad = leaf.grad ? leaf.grad.add(dense) : dense === g ? g.clone() : dense;
}
