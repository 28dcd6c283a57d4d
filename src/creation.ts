/**
 * Making tensors: from data, constants, ranges and seeded random numbers.
 * Random numbers are drawn on the host from a seeded Generator and uploaded, so the same seed
 * gives the same numbers on every backend.
 */
import { getBackend } from './backend/registry';
import { Generator, defaultGenerator } from './random';
import { Tensor, checkShape, shapeSize } from './tensor';

export interface CreateOptions {
  requiresGrad?: boolean;
}
export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

function make(data: Float32Array, shape: number[], opts: CreateOptions = {}): Tensor {
  const t = Tensor.fromBuf(getBackend().fromArray(data), shape);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

export type NestedArray = number | NestedArray[];

/** Infer the shape of nested arrays, checking that they are rectangular. */
function nestedShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
  }
  const check = (x: NestedArray, d: number, path: string) => {
    if (d === shape.length) {
      if (typeof x !== 'number') throw new Error(`tensor: expected a number at ${path}, got ${JSON.stringify(x)}`);
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[d]) throw new Error(`tensor: ragged nested array at ${path}: expected ${shape[d]} entries`);
    x.forEach((v, i) => check(v, d + 1, `${path}[${i}]`));
  };
  check(data, 0, 'data');
  return shape;
}

/** A tensor from nested arrays (shape inferred) or from flat data with a shape. */
export function tensor(data: NestedArray | ArrayLike<number>, shape?: number[], opts: CreateOptions = {}): Tensor {
  if (shape !== undefined) {
    const flat = Float32Array.from(data as ArrayLike<number>);
    checkShape(shape, 'tensor');
    if (flat.length !== shapeSize(shape)) throw new Error(`tensor: ${flat.length} values do not fill shape [${shape}] (${shapeSize(shape)} elements)`);
    return make(flat, shape, opts);
  }
  if (typeof data === 'number') return make(Float32Array.of(data), [], opts);
  if (!Array.isArray(data)) return make(Float32Array.from(data as ArrayLike<number>), [(data as ArrayLike<number>).length], opts);
  const inferred = nestedShape(data);
  return make(Float32Array.from((data as unknown[]).flat(Infinity) as number[]), inferred, opts);
}

export function fromArray(data: Float32Array, shape: number[], opts: CreateOptions = {}): Tensor {
  return tensor(data, shape, opts);
}

export function full(shape: number[], value: number, opts: CreateOptions = {}): Tensor {
  checkShape(shape, 'full');
  const t = Tensor.fromBuf(getBackend().full(shapeSize(shape), value), shape);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}
export const zeros = (shape: number[], opts?: CreateOptions) => full(shape, 0, opts);
export const ones = (shape: number[], opts?: CreateOptions) => full(shape, 1, opts);

/** start, start+step, ... below end (like numpy.arange). */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new Error('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((end - start) / step));
  return make(Float32Array.from({ length: n }, (_, i) => start + i * step), [n], opts);
}

/** n evenly spaced values from start to end inclusive. */
export function linspace(start: number, end: number, n: number, opts: CreateOptions = {}): Tensor {
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`linspace: n must be a non-negative integer, got ${n}`);
  const step = n > 1 ? (end - start) / (n - 1) : 0;
  return make(Float32Array.from({ length: n }, (_, i) => (i === n - 1 && n > 1 ? end : start + i * step)), [n], opts);
}

/** Uniform on [0, 1). */
export function rand(shape: number[], opts: RandomOptions = {}): Tensor {
  checkShape(shape, 'rand');
  const g = opts.generator ?? defaultGenerator;
  return make(Float32Array.from({ length: shapeSize(shape) }, () => g.uniform()), shape, opts);
}

/** Standard normal N(0, 1). */
export function randn(shape: number[], opts: RandomOptions = {}): Tensor {
  checkShape(shape, 'randn');
  const g = opts.generator ?? defaultGenerator;
  return make(Float32Array.from({ length: shapeSize(shape) }, () => g.normal()), shape, opts);
}

export const zerosLike = (t: Tensor) => t.zerosLike();
export const onesLike = (t: Tensor) => t.onesLike();
export const randnLike = (t: Tensor, opts?: RandomOptions) => randn(t.shape, opts);
