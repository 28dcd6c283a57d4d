/** Looking at the recorded graph: Graphviz text (toDot) and a plain-text tree (printGraph). */
import type { Node } from './autograd';
import type { Tensor } from './tensor';

function fmtShape(s: number[]) {
  return `[${s.join(', ')}]`;
}

/**
 * The graph that produced `root` in Graphviz dot: one box per op (name and output shape),
 * one ellipse per leaf (name, shape, and its grad's shape once backward has run).
 * Render with `dot -Tpng graph.dot -o graph.png`.
 */
export function toDot(root: Tensor): string {
  const lines = ['digraph autograd {', '  rankdir=BT;', '  node [fontname="Helvetica", fontsize=10];'];
  const ids = new Map<object, string>();
  const id = (o: object) => {
    if (!ids.has(o)) ids.set(o, `n${ids.size}`);
    return ids.get(o)!;
  };
  const leafLabel = (t: Tensor) => {
    const grad = t.grad ? `\\ngrad ${fmtShape(t.grad.shape)}` : t.requiresGrad ? '\\ngrad: none yet' : '';
    return `${t.name ?? (t.requiresGrad ? 'leaf' : 'const')}\\n${fmtShape(t.shape)}${grad}`;
  };
  const outputShape = new Map<Node, number[]>();
  if (!root.gradFn) {
    lines.push(`  ${id(root)} [shape=ellipse, label="${leafLabel(root)}"];`, '}');
    return lines.join('\n');
  }
  outputShape.set(root.gradFn, root.shape);
  const seen = new Set<Node>();
  const stack: Node[] = [root.gradFn];
  seen.add(root.gradFn);
  while (stack.length) {
    const node = stack.pop()!;
    const shape = outputShape.get(node);
    lines.push(`  ${id(node)} [shape=box, style=filled, fillcolor="#dde8f7", label="${node.name}${shape ? '\\n' + fmtShape(shape) : ''}"];`);
    for (const input of node.inputs) {
      if (input.gradFn) {
        outputShape.set(input.gradFn, input.shape);
        lines.push(`  ${id(input.gradFn)} -> ${id(node)};`);
        if (!seen.has(input.gradFn)) {
          seen.add(input.gradFn);
          stack.push(input.gradFn);
        }
      } else {
        if (!ids.has(input)) lines.push(`  ${id(input)} [shape=ellipse, style=filled, fillcolor="${input.requiresGrad ? '#f7e3c6' : '#eeeeee'}", label="${leafLabel(input)}"];`);
        lines.push(`  ${id(input)} -> ${id(node)};`);
      }
    }
  }
  lines.push('}');
  return lines.join('\n');
}

/** The graph as an indented text tree, root first (shared subgraphs are printed once). */
export function printGraph(root: Tensor): string {
  const out: string[] = [];
  const seen = new Set<Node>();
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length) {
    const [t, depth] = stack.pop()!;
    const pad = '  '.repeat(depth);
    if (!t.gradFn) {
      out.push(`${pad}${t.name ?? (t.requiresGrad ? 'leaf' : 'const')} ${fmtShape(t.shape)}`);
      continue;
    }
    const again = seen.has(t.gradFn);
    out.push(`${pad}${t.gradFn.name} ${fmtShape(t.shape)}${again ? ' (see above)' : ''}`);
    if (again) continue;
    seen.add(t.gradFn);
    for (let i = t.gradFn.inputs.length - 1; i >= 0; i--) stack.push([t.gradFn.inputs[i], depth + 1]);
  }
  return out.join('\n');
}
