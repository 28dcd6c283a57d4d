/**
 * Elementwise ops. Each Function holds its forward (one backend kernel call) and its
 * backward (the derivative written with tensor ops, as in any calculus table).
 */
import { Context, Function } from '../autograd';
import type { BinaryOp, UnaryOp } from '../backend/backend';
import { Tensor } from '../tensor';
import { broadcastShapes, broadcastView, sameBackend } from './util';

/** Run a unary kernel on a dense copy of x. */
export function unaryKernel(op: UnaryOp, x: Tensor, a?: number, b?: number): Tensor {
  return Tensor.fromBuf(x.backend.unary(op, x.denseBuf(), x.size, a, b), x.shape, x.backend);
}

/** Run a binary kernel with NumPy broadcasting. */
export function binaryKernel(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  sameBackend(op, a, b);
  const shape = broadcastShapes(a.shape, b.shape, op);
  return Tensor.fromBuf(a.backend.binary(op, broadcastView(a, shape), broadcastView(b, shape), shape), shape, a.backend);
}

// ---------------------------------------------------------------- binary

export class Add extends Function {
  forward(_ctx: Context, a: Tensor, b: Tensor) {
    return binaryKernel('add', a, b);
  }
  backward(_ctx: Context, g: Tensor) {
    return [g, g]; // d(a+b)/da = d(a+b)/db = 1 (broadcast dims are summed by the engine)
  }
}

export class Sub extends Function {
  forward(_ctx: Context, a: Tensor, b: Tensor) {
    return binaryKernel('sub', a, b);
  }
  backward(_ctx: Context, g: Tensor) {
    return [g, g.neg()];
  }
}

export class Mul extends Function {
  forward(ctx: Context, a: Tensor, b: Tensor) {
    ctx.saveForBackward(a, b);
    return binaryKernel('mul', a, b);
  }
  backward(ctx: Context, g: Tensor) {
    const [a, b] = ctx.saved;
    return [ctx.needsInputGrad[0] ? g.mul(b) : null, ctx.needsInputGrad[1] ? g.mul(a) : null];
  }
}

export class Div extends Function {
  forward(ctx: Context, a: Tensor, b: Tensor) {
    ctx.saveForBackward(a, b);
    return binaryKernel('div', a, b);
  }
  backward(ctx: Context, g: Tensor): (Tensor | null)[] {
    const [a, b] = ctx.saved;
    // BEGIN SOLUTION 4
    // d(a/b)/da = 1/b,  d(a/b)/db = -a/b^2
    return [ctx.needsInputGrad[0] ? g.div(b) : null, ctx.needsInputGrad[1] ? g.mul(a).div(b.square()).neg() : null];
    // END SOLUTION 4
  }
}

export class Pow extends Function {
  forward(ctx: Context, a: Tensor, b: Tensor) {
    const out = binaryKernel('pow', a, b);
    ctx.saveForBackward(a, b, out);
    return out;
  }
  backward(ctx: Context, g: Tensor) {
    const [a, b, out] = ctx.saved;
    // d(a^b)/da = b a^(b-1),  d(a^b)/db = a^b ln a
    return [ctx.needsInputGrad[0] ? g.mul(b).mul(a.pow(b.sub(1))) : null, ctx.needsInputGrad[1] ? g.mul(out).mul(a.log()) : null];
  }
}

/** max(a, b) elementwise; the gradient goes to the larger input (to a on ties). */
export class Maximum extends Function {
  forward(ctx: Context, a: Tensor, b: Tensor) {
    const out = binaryKernel('maximum', a, b); // first, so that a shape error names maximum
    ctx.saveForBackward(binaryKernel('ge', a, b));
    return out;
  }
  backward(ctx: Context, g: Tensor) {
    const [aWins] = ctx.saved;
    return [g.mul(aWins), g.mul(aWins.neg().add(1))];
  }
}

/** min(a, b) elementwise; the gradient goes to the smaller input (to a on ties). */
export class Minimum extends Function {
  forward(ctx: Context, a: Tensor, b: Tensor) {
    const out = binaryKernel('minimum', a, b); // first, so that a shape error names minimum
    ctx.saveForBackward(binaryKernel('le', a, b));
    return out;
  }
  backward(ctx: Context, g: Tensor) {
    const [aWins] = ctx.saved;
    return [g.mul(aWins), g.mul(aWins.neg().add(1))];
  }
}

/** Comparisons give 0/1 masks; they have no gradient (the output is piecewise constant). */
export function compare(op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge', a: Tensor, b: Tensor | number): Tensor {
  const other = typeof b === 'number' ? Tensor.fromBuf(a.backend.full(1, b), [], a.backend) : b;
  return binaryKernel(op, a.detach(), other.detach());
}

/** where(cond, a, b): a where cond != 0, else b. cond gets no gradient. */
export class Where extends Function {
  forward(ctx: Context, cond: Tensor, a: Tensor, b: Tensor) {
    sameBackend('where', cond, a, b);
    const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, 'where'), b.shape, 'where');
    ctx.saveForBackward(cond);
    const buf = a.backend.where(broadcastView(cond, shape), broadcastView(a, shape), broadcastView(b, shape), shape);
    return Tensor.fromBuf(buf, shape, a.backend);
  }
  backward(ctx: Context, g: Tensor) {
    const [cond] = ctx.saved;
    const zero = g.zerosLike();
    return [null, where(cond, g, zero), where(cond, zero, g)];
  }
}

export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const asTensor = (v: Tensor | number) => (typeof v === 'number' ? Tensor.fromBuf(cond.backend.full(1, v), [], cond.backend) : v);
  return Where.apply(cond.detach(), asTensor(a), asTensor(b));
}

// ---------------------------------------------------------------- unary

export class Neg extends Function {
  forward(_ctx: Context, x: Tensor) {
    return unaryKernel('neg', x);
  }
  backward(_ctx: Context, g: Tensor) {
    return [g.neg()];
  }
}

/** x + a for a scalar a. */
export class AddScalar extends Function {
  forward(_ctx: Context, x: Tensor, a: number) {
    return unaryKernel('addScalar', x, a);
  }
  backward(_ctx: Context, g: Tensor) {
    return [g];
  }
}

/** x * a for a scalar a. */
export class MulScalar extends Function {
  forward(ctx: Context, x: Tensor, a: number) {
    ctx.a = a;
    return unaryKernel('mulScalar', x, a);
  }
  backward(ctx: Context, g: Tensor) {
    return [g.mul(ctx.a as number)];
  }
}

/** x ** a for a scalar a: d/dx = a x^(a-1). */
export class PowScalar extends Function {
  forward(ctx: Context, x: Tensor, a: number) {
    ctx.saveForBackward(x);
    ctx.a = a;
    return unaryKernel('powScalar', x, a);
  }
  backward(ctx: Context, g: Tensor) {
    const [x] = ctx.saved;
    const a = ctx.a as number;
    return [a === 2 ? g.mul(x).mul(2) : g.mul(x.pow(a - 1)).mul(a)];
  }
}

export class Square extends Function {
  forward(ctx: Context, x: Tensor) {
    ctx.saveForBackward(x);
    return unaryKernel('square', x);
  }
  backward(ctx: Context, g: Tensor) {
    return [g.mul(ctx.saved[0]).mul(2)];
  }
}

export class Exp extends Function {
  forward(ctx: Context, x: Tensor) {
    const out = unaryKernel('exp', x);
    ctx.saveForBackward(out);
    return out;
  }
  backward(ctx: Context, g: Tensor) {
    return [g.mul(ctx.saved[0])]; // d e^x = e^x
  }
}

export class Log extends Function {
  forward(ctx: Context, x: Tensor) {
    ctx.saveForBackward(x);
    return unaryKernel('log', x);
  }
  backward(ctx: Context, g: Tensor) {
    return [g.div(ctx.saved[0])]; // d ln x = 1/x
  }
}

export class Sqrt extends Function {
  forward(ctx: Context, x: Tensor) {
    const out = unaryKernel('sqrt', x);
    ctx.saveForBackward(out);
    return out;
  }
  backward(ctx: Context, g: Tensor) {
    return [g.div(ctx.saved[0]).mul(0.5)]; // d sqrt x = 1 / (2 sqrt x)
  }
}

export class Rsqrt extends Function {
  forward(ctx: Context, x: Tensor) {
    const out = unaryKernel('rsqrt', x);
    ctx.saveForBackward(out);
    return out;
  }
  backward(ctx: Context, g: Tensor) {
    const [y] = ctx.saved;
    return [g.mul(y.pow(3)).mul(-0.5)]; // d x^-1/2 = -1/2 x^-3/2
  }
}

export class Abs extends Function {
  forward(ctx: Context, x: Tensor) {
    ctx.saveForBackward(x);
    return unaryKernel('abs', x);
  }
  backward(ctx: Context, g: Tensor) {
    return [g.mul(unaryKernel('sign', ctx.saved[0]))]; // sign(x), 0 at 0 as in PyTorch
  }
}

export class Sin extends Function {
  forward(ctx: Context, x: Tensor) {
    ctx.saveForBackward(x);
    return unaryKernel('sin', x);
  }
  backward(ctx: Context, g: Tensor) {
    return [g.mul(ctx.saved[0].cos())];
  }
}

export class Cos extends Function {
  forward(ctx: Context, x: Tensor) {
    ctx.saveForBackward(x);
    return unaryKernel('cos', x);
  }
  backward(ctx: Context, g: Tensor) {
    return [g.mul(ctx.saved[0].sin()).neg()];
  }
}

export class Relu extends Function {
  forward(ctx: Context, x: Tensor) {
    ctx.saveForBackward(x);
    return unaryKernel('relu', x);
  }
  backward(ctx: Context, g: Tensor) {
    return [g.mul(unaryKernel('step', ctx.saved[0]))]; // 1 where x > 0
  }
}

export class Sigmoid extends Function {
  forward(ctx: Context, x: Tensor) {
    const out = unaryKernel('sigmoid', x);
    ctx.saveForBackward(out);
    return out;
  }
  backward(ctx: Context, g: Tensor): (Tensor | null)[] {
    const [s] = ctx.saved;
    // BEGIN SOLUTION 4
    return [g.mul(s).mul(s.neg().add(1))]; // s (1 - s)
    // END SOLUTION 4
  }
}

export class Tanh extends Function {
  forward(ctx: Context, x: Tensor) {
    const out = unaryKernel('tanh', x);
    ctx.saveForBackward(out);
    return out;
  }
  backward(ctx: Context, g: Tensor): (Tensor | null)[] {
    const [t] = ctx.saved;
    // BEGIN SOLUTION 4
    return [g.mul(t.square().neg().add(1))]; // 1 - tanh^2
    // END SOLUTION 4
  }
}

/** SiLU (swish): x * sigmoid(x), the activation of the DDPM UNet. */
export class Silu extends Function {
  forward(ctx: Context, x: Tensor) {
    ctx.saveForBackward(x);
    return unaryKernel('silu', x);
  }
  backward(ctx: Context, g: Tensor) {
    const [x] = ctx.saved;
    // d/dx x s(x) = s + x s (1 - s) = s (1 + x (1 - s)), times g: one kernel ('siluGrad')
    return [binaryKernel('siluGrad', g, x)];
  }
}

/** GELU, exact form x Phi(x) with Phi the standard normal CDF. */
export class Gelu extends Function {
  forward(ctx: Context, x: Tensor) {
    ctx.saveForBackward(x);
    return unaryKernel('gelu', x);
  }
  backward(ctx: Context, g: Tensor) {
    const [x] = ctx.saved;
    // d/dx x Phi(x) = Phi(x) + x phi(x),  Phi = (1 + erf(x/sqrt2))/2,  phi = exp(-x^2/2)/sqrt(2 pi)
    const cdf = unaryKernel('erf', x.mul(Math.SQRT1_2)).add(1).mul(0.5);
    const pdf = x.square().mul(-0.5).exp().mul(1 / Math.sqrt(2 * Math.PI));
    return [g.mul(cdf.add(x.mul(pdf)))];
  }
}

/** clamp(x, lo, hi): the gradient passes where lo <= x <= hi (as in PyTorch). */
export class Clamp extends Function {
  forward(ctx: Context, x: Tensor, lo: number, hi: number) {
    if (lo > hi) throw new Error(`clamp: min ${lo} is greater than max ${hi}`);
    ctx.saveForBackward(x);
    ctx.lo = lo;
    ctx.hi = hi;
    return unaryKernel('clamp', x, lo, hi);
  }
  backward(ctx: Context, g: Tensor) {
    const [x] = ctx.saved;
    const inside = x.ge(ctx.lo as number).mul(x.le(ctx.hi as number));
    return [g.mul(inside)];
  }
}

/** A copy of the values; the gradient passes unchanged. */
export class Clone extends Function {
  forward(_ctx: Context, x: Tensor) {
    return Tensor.fromBuf(x.backend.copyStrided(x.view(), x.shape), x.shape, x.backend);
  }
  backward(_ctx: Context, g: Tensor) {
    return [g];
  }
}
