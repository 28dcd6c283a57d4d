/**
 * Model summaries: run one forward pass, note each layer's output shape as it is produced,
 * and print them as a table with the parameter counts (like Keras' model.summary() or
 * torchinfo). The layers are observed by wrapping their `forward` for the duration of
 * the pass (what PyTorch calls a forward hook).
 */
import { noGrad } from '../autograd';
import { zeros } from '../creation';
import { Tensor } from '../tensor';
import type { Module } from './module';

/** A shape (the input is zeros of that shape) or a tensor. */
export type SummaryInput = number[] | Tensor;

export interface SummaryOptions {
  /** show layers at most this many levels below the root (default 2: `down1.res`, not `down1.res.conv1`) */
  depth?: number;
}

interface Row {
  name: string;
  type: string;
  depth: number;
  outShape: string;
  params: number;
}

const count = (n: number) => n.toLocaleString('en-US');

function describeOutput(out: unknown): string {
  if (out instanceof Tensor) return `[${out.shape.join(', ')}]`;
  if (Array.isArray(out)) return out.map(describeOutput).join(' ');
  return typeof out;
}

/** The summary table of `model` for one forward pass on `inputs`, as text. */
export function summarize(model: Module, inputs: SummaryInput[], opts: SummaryOptions = {}): string {
  const maxDepth = opts.depth ?? 2;
  const rows: Row[] = [];
  const wrapped: { module: Module; own: PropertyDescriptor | undefined }[] = [];
  for (const [name, m] of model.namedModules()) {
    const depth = name === '' ? 0 : name.split('.').length;
    if (depth === 0 || depth > maxDepth) continue;
    const original = m.forward;
    wrapped.push({ module: m, own: Object.getOwnPropertyDescriptor(m, 'forward') });
    (m as { forward: Module['forward'] }).forward = (...args: unknown[]) => {
      // the row is placed when the call starts, so a block comes before the layers inside it
      const row: Row = { name, type: m.constructor.name, depth, outShape: '', params: m.numParameters() };
      rows.push(row);
      const out = original.apply(m, args);
      row.outShape = describeOutput(out);
      return out;
    };
  }
  const wasTraining = model.namedModules().map(([, m]) => m.training);
  let output: unknown;
  try {
    model.eval();
    const xs = inputs.map((s) => (s instanceof Tensor ? s : zeros(s)));
    output = noGrad(() => model.forward(...xs));
  } finally {
    for (const { module, own } of wrapped) {
      delete (module as { forward?: unknown }).forward;
      if (own) Object.defineProperty(module, 'forward', own);
    }
    model.namedModules().forEach(([, m], i) => (m.training = wasTraining[i]));
  }

  const total = model.numParameters();
  const trainable = model.parameters().reduce((n, p) => n + (p.requiresGrad ? p.size : 0), 0);
  const inputText = inputs.map((s) => `[${(s instanceof Tensor ? s.shape : s).join(', ')}]`).join(', ');
  const table: string[][] = [['Layer (type)', 'Output shape', 'Param #']];
  for (const r of rows) table.push([`${'  '.repeat(r.depth - 1)}${r.name} (${r.type})`, r.outShape, count(r.params)]);
  const widths = [0, 1, 2].map((c) => Math.max(...table.map((row) => row[c].length)));
  const line = (row: string[]) => `${row[0].padEnd(widths[0])}   ${row[1].padEnd(widths[1])}   ${row[2].padStart(widths[2])}`;
  const ruleWidth = widths[0] + widths[1] + widths[2] + 6;
  const lines = [
    `${model.constructor.name} summary, input ${inputText}`,
    '='.repeat(ruleWidth),
    line(table[0]),
    '-'.repeat(ruleWidth),
    ...table.slice(1).map(line),
    '='.repeat(ruleWidth),
    `Output: ${describeOutput(output)}`,
    `Total params: ${count(total)}`,
    `Trainable params: ${count(trainable)}`,
    `Non-trainable params: ${count(total - trainable)}`,
    `Parameter size: ${((total * 4) / 2 ** 20).toFixed(2)} MiB (float32)`,
  ];
  return lines.join('\n');
}
