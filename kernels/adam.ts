/**
 * One Adam(W) step, elementwise, as three kernels (gpu.js kernels have one output each; the
 * moments come first because the parameter update reads them):
 *
 *   g  = grad + wd * param            (Adam: L2 penalty in the gradient; wdL2 = wd, else 0)
 *   m' = beta1 * m + (1 - beta1) * g                                   adamMoment1
 *   v' = beta2 * v + (1 - beta2) * g^2                                 adamMoment2
 *   param' = param - lr * wdDecoupled * param - lr * (m'/bc1) / (sqrt(v'/bc2) + eps)   adamParam
 *
 * with bc1 = 1 - beta1^t, bc2 = 1 - beta2^t (Kingma & Ba 2015, Algorithm 1; AdamW's decoupled
 * decay, Loshchilov & Hutter 2019). Hyperparameters are scalar arguments, not constants:
 * they change every step (bias corrections, schedules) and must not trigger a recompile.
 */
import type { KernelSpec, KernelThis } from './kernel';

function adamMoment1(this: KernelThis, param: Float32Array, grad: Float32Array, m: Float32Array, beta1: number, oneMinusBeta1: number, wdL2: number): number {
  const i = this.thread.x;
  const g = grad[i] + wdL2 * param[i];
  return beta1 * m[i] + oneMinusBeta1 * g;
}

function adamMoment2(this: KernelThis, param: Float32Array, grad: Float32Array, v: Float32Array, beta2: number, oneMinusBeta2: number, wdL2: number): number {
  const i = this.thread.x;
  const g = grad[i] + wdL2 * param[i];
  return beta2 * v[i] + oneMinusBeta2 * g * g;
}

function adamParam(
  this: KernelThis,
  param: Float32Array,
  m: Float32Array,
  v: Float32Array,
  lr: number,
  eps: number,
  bc1: number,
  bc2: number,
  lrTimesWdDecoupled: number,
): number {
  const i = this.thread.x;
  const w = param[i] - lrTimesWdDecoupled * param[i];
  const mHat = m[i] / bc1;
  const vHat = v[i] / bc2;
  return w - (lr * mHat) / (Math.sqrt(vHat) + eps);
}

/** Called with (param, grad, m, beta1, 1 - beta1, wdL2). */
export function adamMoment1Spec(size: number): KernelSpec {
  return { name: 'adam.moment1', source: adamMoment1, output: [size], constants: {} };
}

/** Called with (param, grad, v, beta2, 1 - beta2, wdL2). */
export function adamMoment2Spec(size: number): KernelSpec {
  return { name: 'adam.moment2', source: adamMoment2, output: [size], constants: {} };
}

/** Called with (param, m', v', lr, eps, bc1, bc2, lr * wdDecoupled). */
export function adamParamSpec(size: number): KernelSpec {
  return { name: 'adam.param', source: adamParam, output: [size], constants: {} };
}
