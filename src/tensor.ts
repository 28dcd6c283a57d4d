/**
 * The Tensor: an N-d view of float32 numbers.
 *
 * A tensor is (storage, shape, strides, offset): element [i0, ..., ik] lives at
 * storage[offset + i0*strides[0] + ... + ik*strides[k]]. Views (reshape, permute, slice,
 * expand) only change shape/strides/offset and share the storage; `contiguous()` copies into
 * a fresh row-major storage when a kernel needs one.
 *
 * The storage belongs to a backend (src/backend/): the tensor never touches numbers itself.
 * Ops live in src/ops/, one Function each with its forward and backward side by side; the
 * methods here are the friendly names for them.
 */
import type { Backend, Buf, StridedView } from './backend/backend';
import { getBackend } from './backend/registry';
import { BackwardOptions, Node, runBackward } from './autograd';
import * as ops from './ops';
import { formatTensor } from './print';

/** Device memory of a backend that must be released is freed when its Storage is garbage collected. */
const storageRegistry = new FinalizationRegistry<{ backend: Backend; buf: Buf }>(({ backend, buf }) => {
  backend.free?.(buf);
});

/** The open tidy() scopes, innermost last: each collects the storages created inside it. */
const tidyScopes: Set<Storage>[] = [];

export class Storage {
  private disposed = false;
  constructor(
    readonly backend: Backend,
    private _buf: Buf,
    readonly size: number,
  ) {
    if (backend.free) storageRegistry.register(this, { backend, buf: _buf }, this);
    tidyScopes[tidyScopes.length - 1]?.add(this);
  }
  get isDisposed(): boolean {
    return this.disposed;
  }
  get buf(): Buf {
    if (this.disposed) throw new Error('tensor: this tensor was disposed; its storage is gone');
    return this._buf;
  }
  /** Free device memory now instead of waiting for the garbage collector. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.backend.free) {
      storageRegistry.unregister(this);
      this.backend.free(this._buf);
    }
  }
}

/** Storages held by a value returned from tidy(): a tensor, or arrays / plain objects of them. */
function collectStorages(value: unknown, into: Set<Storage>, depth = 0): void {
  if (value instanceof Tensor) into.add(value.storage);
  else if (depth < 4 && Array.isArray(value)) value.forEach((v) => collectStorages(v, into, depth + 1));
  else if (depth < 4 && value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    Object.values(value).forEach((v) => collectStorages(v, into, depth + 1));
  }
}

/**
 * Run fn and free every tensor it created except those it returns (like tf.tidy). JavaScript
 * frees memory only when the garbage collector runs, which a synchronous loop never lets it
 * do; on a GPU that means textures pile up. A sampling loop wraps each step in tidy().
 * Tensors made inside must not be kept elsewhere (in a closure or a field) past the call.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Storage>();
  tidyScopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    tidyScopes.pop();
    scope.forEach((s) => s.dispose());
    throw err;
  }
  tidyScopes.pop();
  const keep = new Set<Storage>();
  collectStorages(result, keep);
  const parent = tidyScopes[tidyScopes.length - 1];
  for (const s of scope) {
    if (!keep.has(s)) s.dispose();
    else parent?.add(s); // what survives belongs to the enclosing scope
  }
  return result;
}

export type Shape = number[];

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

export function checkShape(shape: Shape, op: string): Shape {
  if (!Array.isArray(shape) || shape.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new Error(`${op}: a shape must be a list of non-negative integers, got [${shape}]`);
  }
  return shape.slice();
}

export class Tensor {
  readonly __isTensor = true;
  readonly dtype = 'float32';
  /** Whether gradients flow to this tensor. Set on leaves you want gradients for. */
  requiresGrad = false;
  /** dL/d(this), filled by backward() on leaves; accumulates until zeroed. */
  grad: Tensor | null = null;
  /** The op that produced this tensor (null for leaves). */
  gradFn: Node | null = null;
  /** An optional label, shown by toDot(). */
  name?: string;

  constructor(
    public storage: Storage,
    public shape: Shape,
    public strides: number[] = contiguousStrides(shape),
    public offset = 0,
  ) {}

  /** A new contiguous tensor around a backend buffer. */
  static fromBuf(buf: Buf, shape: Shape, backend: Backend = getBackend()): Tensor {
    return new Tensor(new Storage(backend, buf, shapeSize(shape)), shape.slice());
  }

  get backend(): Backend {
    return this.storage.backend;
  }
  get ndim(): number {
    return this.shape.length;
  }
  /** Number of elements. */
  get size(): number {
    return shapeSize(this.shape);
  }
  /** Whether the elements are stored densely in row-major order from the offset. */
  isContiguous(): boolean {
    const cs = contiguousStrides(this.shape);
    return this.shape.every((s, d) => s === 1 || this.strides[d] === cs[d]);
  }
  /** This tensor as a strided read for a kernel. */
  view(): StridedView {
    return { buf: this.storage.buf, strides: this.strides, offset: this.offset };
  }
  /** The backend buffer of a contiguous copy (or of this tensor, if already dense from 0). */
  denseBuf(): Buf {
    if (this.isContiguous() && this.offset === 0 && this.storage.size === this.size) return this.storage.buf;
    return this.backend.copyStrided(this.view(), this.shape);
  }

  // ---- values ----
  /** The elements as a flat Float32Array in row-major order (read back from the device). */
  toArray(): Float32Array {
    if (this.isContiguous()) {
      const all = this.backend.toArray(this.storage.buf, this.offset + this.size);
      return this.offset === 0 && all.length === this.size ? all : all.slice(this.offset, this.offset + this.size);
    }
    return this.backend.toArray(this.denseBuf(), this.size);
  }
  /** Nested JavaScript arrays, like torch's tolist(). */
  tolist(): any {
    const flat = Array.from(this.toArray());
    const build = (d: number, start: number): any => {
      if (d === this.ndim) return flat[start];
      const inner = shapeSize(this.shape.slice(d + 1));
      return Array.from({ length: this.shape[d] }, (_, i) => build(d + 1, start + i * inner));
    };
    return build(0, 0);
  }
  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item: only a one-element tensor has an item, got shape [${this.shape}]`);
    return this.toArray()[0];
  }
  toString(): string {
    return formatTensor(this);
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  // ---- autograd ----
  /** Compute gradients of this (scalar) tensor with respect to every leaf that requires grad. */
  backward(gradient?: Tensor, opts?: BackwardOptions): void {
    runBackward(this, gradient, opts);
  }
  /** The same values, cut off from the graph (shares storage). */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape.slice(), this.strides.slice(), this.offset);
  }
  /** Set requiresGrad on a leaf; returns this. */
  requiresGrad_(flag = true): this {
    if (this.gradFn && !flag) throw new Error('requiresGrad_: only leaves can stop requiring grad; use detach()');
    this.requiresGrad = flag;
    return this;
  }
  zeroGrad(): void {
    this.grad = null;
  }
  /**
   * Replace this tensor's values with those of `src` (same shape), keeping the object: how
   * optimizers update parameters. Not recorded by autograd.
   */
  assign_(src: Tensor): this {
    if (src.shape.join() !== this.shape.join()) {
      throw new Error(`assign_: shape [${src.shape}] does not match [${this.shape}]`);
    }
    if (src.backend !== this.backend) throw new Error(`assign_: tensors live on different backends (${src.backend.name} vs ${this.backend.name})`);
    const dense = src.contiguous();
    // take over a dense storage as it is; never wrap its buffer in a second Storage, or the
    // first one's finalizer would free the buffer under the parameter
    this.storage = dense.offset === 0 && dense.storage.size === this.size ? dense.storage : new Storage(this.backend, dense.denseBuf(), this.size);
    this.strides = contiguousStrides(this.shape);
    this.offset = 0;
    return this;
  }
  /** Free this tensor's device memory now (the tensor is unusable afterwards). */
  dispose(): void {
    this.storage.dispose();
  }

  // ---- creation alike ----
  zerosLike(): Tensor {
    return Tensor.fromBuf(this.backend.full(this.size, 0), this.shape, this.backend);
  }
  onesLike(): Tensor {
    return Tensor.fromBuf(this.backend.full(this.size, 1), this.shape, this.backend);
  }
  fullLike(value: number): Tensor {
    return Tensor.fromBuf(this.backend.full(this.size, value), this.shape, this.backend);
  }
  /** A new tensor with a copy of the values (differentiable). */
  clone(): Tensor {
    return ops.Clone.apply(this);
  }

  // ---- elementwise arithmetic (NumPy broadcasting) ----
  add(other: Tensor | number): Tensor {
    return typeof other === 'number' ? ops.AddScalar.apply(this, other) : ops.Add.apply(this, other);
  }
  sub(other: Tensor | number): Tensor {
    return typeof other === 'number' ? ops.AddScalar.apply(this, -other) : ops.Sub.apply(this, other);
  }
  mul(other: Tensor | number): Tensor {
    return typeof other === 'number' ? ops.MulScalar.apply(this, other) : ops.Mul.apply(this, other);
  }
  div(other: Tensor | number): Tensor {
    return typeof other === 'number' ? ops.MulScalar.apply(this, 1 / other) : ops.Div.apply(this, other);
  }
  pow(exponent: Tensor | number): Tensor {
    return typeof exponent === 'number' ? ops.PowScalar.apply(this, exponent) : ops.Pow.apply(this, exponent);
  }
  maximum(other: Tensor): Tensor {
    return ops.Maximum.apply(this, other);
  }
  minimum(other: Tensor): Tensor {
    return ops.Minimum.apply(this, other);
  }
  neg(): Tensor {
    return ops.Neg.apply(this);
  }
  exp(): Tensor {
    return ops.Exp.apply(this);
  }
  log(): Tensor {
    return ops.Log.apply(this);
  }
  sqrt(): Tensor {
    return ops.Sqrt.apply(this);
  }
  rsqrt(): Tensor {
    return ops.Rsqrt.apply(this);
  }
  abs(): Tensor {
    return ops.Abs.apply(this);
  }
  square(): Tensor {
    return ops.Square.apply(this);
  }
  sin(): Tensor {
    return ops.Sin.apply(this);
  }
  cos(): Tensor {
    return ops.Cos.apply(this);
  }
  relu(): Tensor {
    return ops.Relu.apply(this);
  }
  sigmoid(): Tensor {
    return ops.Sigmoid.apply(this);
  }
  tanh(): Tensor {
    return ops.Tanh.apply(this);
  }
  silu(): Tensor {
    return ops.Silu.apply(this);
  }
  gelu(): Tensor {
    return ops.Gelu.apply(this);
  }
  clamp(min = -Infinity, max = Infinity): Tensor {
    return ops.Clamp.apply(this, min, max);
  }

  // ---- comparisons (results are 0/1 masks, never differentiable) ----
  eq(other: Tensor | number): Tensor {
    return ops.compare('eq', this, other);
  }
  ne(other: Tensor | number): Tensor {
    return ops.compare('ne', this, other);
  }
  lt(other: Tensor | number): Tensor {
    return ops.compare('lt', this, other);
  }
  le(other: Tensor | number): Tensor {
    return ops.compare('le', this, other);
  }
  gt(other: Tensor | number): Tensor {
    return ops.compare('gt', this, other);
  }
  ge(other: Tensor | number): Tensor {
    return ops.compare('ge', this, other);
  }

  // ---- reductions ----
  sum(axes?: number | number[], keepdim = false): Tensor {
    return ops.Sum.apply(this, axes, keepdim);
  }
  mean(axes?: number | number[], keepdim = false): Tensor {
    return ops.mean(this, axes, keepdim);
  }
  max(axes?: number | number[], keepdim = false): Tensor {
    return ops.Max.apply(this, axes, keepdim, 'max');
  }
  min(axes?: number | number[], keepdim = false): Tensor {
    return ops.Max.apply(this, axes, keepdim, 'min');
  }
  /** Variance with Bessel's correction by default (correction = 1), as torch.var. */
  var(axes?: number | number[], keepdim = false, correction = 1): Tensor {
    return ops.variance(this, axes, keepdim, correction);
  }
  argmax(axis?: number, keepdim = false): Tensor {
    return ops.argReduce(this, 'argmax', axis, keepdim);
  }
  argmin(axis?: number, keepdim = false): Tensor {
    return ops.argReduce(this, 'argmin', axis, keepdim);
  }
  softmax(axis = -1): Tensor {
    return ops.Softmax.apply(this, axis);
  }
  logSoftmax(axis = -1): Tensor {
    return ops.LogSoftmax.apply(this, axis);
  }

  // ---- linear algebra ----
  matmul(other: Tensor): Tensor {
    return ops.matmul(this, other);
  }

  // ---- views ----
  reshape(...shape: (number | number[])[]): Tensor {
    return ops.Reshape.apply(this, ops.inferShape(this, shape.flat()));
  }
  /** Alias of reshape (a view when the layout allows, a copy otherwise). */
  viewAs(...shape: (number | number[])[]): Tensor {
    return this.reshape(...shape);
  }
  flatten(startAxis = 0, endAxis = -1): Tensor {
    return ops.flatten(this, startAxis, endAxis);
  }
  permute(...axes: (number | number[])[]): Tensor {
    return ops.Permute.apply(this, axes.flat());
  }
  transpose(axis0 = -2, axis1 = -1): Tensor {
    return ops.transpose(this, axis0, axis1);
  }
  /** x[..., start:end, ...] along `axis` (a view, no copy). */
  slice(axis: number, start: number, end?: number): Tensor {
    return ops.Slice.apply(this, axis, start, end);
  }
  /** x[..., index, ...]: select one entry along `axis`, removing that axis. */
  select(axis: number, index: number): Tensor {
    const a = ops.normalizeAxis(axis, this.ndim, 'select');
    const i = index < 0 ? index + this.shape[a] : index; // -1 is the last entry, as in Python
    if (!Number.isInteger(i) || i < 0 || i >= this.shape[a]) {
      throw new Error(`select: index ${index} is out of range for axis ${axis} of size ${this.shape[a]} (shape [${this.shape}])`);
    }
    return this.slice(a, i, i + 1).squeeze(a);
  }
  /** Broadcast to `shape` by repeating size-1 dims (a view with stride 0, no copy). */
  expand(...shape: (number | number[])[]): Tensor {
    return ops.Expand.apply(this, shape.flat());
  }
  squeeze(axis?: number): Tensor {
    return ops.squeeze(this, axis);
  }
  unsqueeze(axis: number): Tensor {
    return ops.unsqueeze(this, axis);
  }
  /** This tensor if already dense row-major, else a contiguous copy. */
  contiguous(): Tensor {
    return this.isContiguous() ? this : ops.Contiguous.apply(this);
  }
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}
