/** Shape and axis helpers shared by the ops, with errors that name the op and the shapes. */
import type { StridedView } from '../backend/backend';
import type { Tensor } from '../tensor';

export function normalizeAxis(axis: number, ndim: number, op: string): number {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= Math.max(ndim, 1)) {
    throw new Error(`${op}: axis ${axis} is out of range for a ${ndim}-d tensor`);
  }
  return axis < 0 ? axis + ndim : axis;
}

/** undefined = all axes; duplicates are an error. Returned sorted ascending. */
export function normalizeAxes(axes: number | number[] | undefined, ndim: number, op: string): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = (Array.isArray(axes) ? axes : [axes]).map((a) => normalizeAxis(a, ndim, op));
  if (new Set(list).size !== list.length) throw new Error(`${op}: repeated axis in [${axes}]`);
  return list.sort((a, b) => a - b);
}

/** NumPy broadcasting: align shapes on the right; each pair of sizes must be equal or contain a 1. */
export function broadcastShapes(a: number[], b: number[], op: string): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes [${a}] and [${b}] cannot be broadcast together (size ${da} vs ${db} at axis ${i - n})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** A strided read of t as if it had the (broadcast) shape `shape`: size-1 and missing dims get stride 0. */
export function broadcastView(t: Tensor, shape: number[]): StridedView {
  const lead = shape.length - t.ndim;
  const strides = shape.map((s, d) => {
    if (d < lead) return 0;
    const own = t.shape[d - lead];
    return own === 1 && s !== 1 ? 0 : t.strides[d - lead];
  });
  return { buf: t.storage.buf, strides, offset: t.offset };
}

export function sameBackend(op: string, ...ts: Tensor[]): void {
  const b = ts[0].backend;
  for (const t of ts) {
    if (t.backend !== b) throw new Error(`${op}: tensors live on different backends (${b.name} and ${t.backend.name}); move one first`);
  }
}

/** Resolve one -1 in a requested shape and check the element count. */
export function inferShape(t: Tensor, shape: number[]): number[] {
  const out = shape.slice();
  const unknown = out.filter((s) => s === -1).length;
  if (unknown > 1) throw new Error(`reshape: only one dimension can be -1, got [${shape}]`);
  if (out.some((s) => !Number.isInteger(s) || s < -1)) throw new Error(`reshape: invalid shape [${shape}]`);
  const known = out.reduce((p, s) => (s === -1 ? p : p * s), 1);
  if (unknown) {
    if (known === 0 || t.size % known !== 0) throw new Error(`reshape: cannot reshape [${t.shape}] (${t.size} elements) into [${shape}]`);
    out[out.indexOf(-1)] = t.size / known;
  } else if (known !== t.size) {
    throw new Error(`reshape: cannot reshape [${t.shape}] (${t.size} elements) into [${shape}] (${known} elements)`);
  }
  return out;
}
