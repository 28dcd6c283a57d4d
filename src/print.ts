/** Tensor printing in the style learners know from PyTorch: `tensor([[1.0000, 2.0000]], requiresGrad=true)`. */
import type { Tensor } from './tensor';

const EDGE = 3; // elements shown at each end of a summarized dim
const SUMMARIZE_ABOVE = 1000;

function formatNumber(v: number, fixed: boolean, decimals: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  return fixed ? v.toFixed(decimals) : v.toExponential(decimals);
}

export function formatTensor(t: Tensor): string {
  const data = t.toArray();
  const summarize = t.size > SUMMARIZE_ABOVE;
  const finite = Array.from(data).filter(Number.isFinite).map(Math.abs);
  const maxAbs = finite.reduce((m, v) => Math.max(m, v), 0); // not Math.max(...finite): a big tensor overflows the call stack
  const minAbs = finite.filter((v) => v > 0).reduce((m, v) => Math.min(m, v), Infinity);
  // scientific notation when values are very large or very small, like PyTorch
  const fixed = maxAbs < 1e8 && (minAbs === Infinity || minAbs >= 1e-4);
  const cells = Array.from(data, (v) => formatNumber(v, fixed, 4));
  const width = cells.reduce((w, s) => Math.max(w, s.length), 0);
  const pad = (s: string) => s.padStart(width);

  const rec = (d: number, start: number, indent: string): string => {
    if (t.ndim === 0) return cells[0];
    const n = t.shape[d];
    const inner = t.shape.slice(d + 1).reduce((p, s) => p * s, 1);
    const idx = summarize && n > 2 * EDGE ? [...Array(EDGE).keys(), -1, ...Array.from({ length: EDGE }, (_, i) => n - EDGE + i)] : [...Array(n).keys()];
    if (d === t.ndim - 1) return '[' + idx.map((i) => (i < 0 ? '...' : pad(cells[start + i]))).join(', ') + ']';
    const sep = ',' + '\n'.repeat(t.ndim - 1 - d) + indent + ' ';
    return '[' + idx.map((i) => (i < 0 ? '...' : rec(d + 1, start + i * inner, indent + ' '))).join(sep) + ']';
  };
  const extras: string[] = [];
  if (summarize) extras.push(`shape=[${t.shape}]`);
  if (t.gradFn) extras.push(`gradFn=${t.gradFn.name}`);
  else if (t.requiresGrad) extras.push('requiresGrad=true');
  if (t.backend.name !== 'ref') extras.push(`backend=${t.backend.name}`);
  return `tensor(${rec(0, 0, '       ')}${extras.map((e) => ', ' + e).join('')})`;
}
