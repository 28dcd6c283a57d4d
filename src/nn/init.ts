/**
 * Parameter initialisation, as PyTorch's default for Linear and Conv2d.
 *
 * PyTorch initialises weights with kaiming_uniform_(a = sqrt(5)) (He et al. 2015):
 *   bound = gain * sqrt(3 / fan_in),  gain = sqrt(2 / (1 + a^2)) = sqrt(1/3)
 *   => bound = 1 / sqrt(fan_in),  weight ~ U(-bound, bound)
 * and biases with U(-1/sqrt(fan_in), 1/sqrt(fan_in)). fan_in is the number of inputs that
 * one output sums over: in_features for a Linear, cin * kh * kw for a Conv2d.
 *
 * The numbers come from a seeded Generator (the default one unless given), so the same seed
 * builds the same network.
 */
import { fromArray } from '../creation';
import { Generator, defaultGenerator } from '../random';
import { Tensor, shapeSize } from '../tensor';

export interface InitOptions {
  /** where the random numbers come from (default: the default generator, see manualSeed) */
  generator?: Generator;
}

/** U(-bound, bound) of the given shape. */
export function uniformInit(shape: number[], bound: number, generator: Generator = defaultGenerator): Tensor {
  const data = new Float32Array(shapeSize(shape));
  for (let i = 0; i < data.length; i++) data[i] = (generator.uniform() * 2 - 1) * bound;
  return fromArray(data, shape);
}

/** fan_in of a weight [out, in, ...kernel]: in * prod(kernel). */
export function fanIn(shape: number[]): number {
  if (shape.length < 2) throw new Error(`fanIn: a weight needs at least 2 dims [out, in, ...], got [${shape}]`);
  return shapeSize(shape.slice(1));
}

/** kaiming_uniform_(a = sqrt(5)), PyTorch's default weight init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
export function kaimingUniformDefault(shape: number[], generator?: Generator): Tensor {
  return uniformInit(shape, 1 / Math.sqrt(fanIn(shape)), generator);
}
