/**
 * [assignment 3] The topological order of backward (docs/course/03-topological-order.md):
 * backward must visit a node only after every node that consumes its output, once each, and
 * without recursion. Checked with closed-form gradients of graphs that reuse values.
 */
import { expect } from 'chai';
import { Context, Function, tensor, type Tensor } from '../../src';

/** y = 2x, counting its backward calls. */
class Double extends Function {
  static calls = 0;
  forward(_ctx: Context, x: Tensor) {
    return x.mul(2);
  }
  backward(_ctx: Context, g: Tensor) {
    Double.calls++;
    return [g.mul(2)];
  }
}

describe('[assignment 3: the topological order of backward]', () => {
  it('a diamond: y = 2x is used twice, z = y * y + y; dz/dx = (2y + 1) * 2, with y\'s backward run once', () => {
    const x = tensor([0.5, -1, 2]).requiresGrad_();
    Double.calls = 0;
    const y = Double.apply(x) as Tensor;
    const z = y.mul(y).add(y).sum();
    z.backward();
    expect(Double.calls).to.equal(1); // y's gradient is complete (from all three uses) before it is passed on
    expect(Array.from(x.grad!.toArray())).to.deep.equal([0.5, -1, 2].map((v) => (2 * 2 * v + 1) * 2));
  });

  it('a value reused at several depths: f = ((x + 1) * x) * x, df/dx = 3x^2 + 2x', () => {
    const x = tensor([1, 2, -3]).requiresGrad_();
    x.add(1).mul(x).mul(x).sum().backward();
    expect(Array.from(x.grad!.toArray())).to.deep.equal([1, 2, -3].map((v) => 3 * v * v + 2 * v));
  });

  it('two branches that meet again: g = exp(a) * a + a * b; dg/da = exp(a) (1 + a) + b, dg/db = a', () => {
    const a = tensor([0.3, -0.2]).requiresGrad_();
    const b = tensor([2, 5]).requiresGrad_();
    Double.calls = 0;
    const left = a.exp().mul(a);
    const right = (Double.apply(a) as Tensor).mul(b).mul(0.5);
    left.add(right).sum().backward();
    expect(Double.calls).to.equal(1);
    const ga = a.grad!.toArray();
    [0.3, -0.2].forEach((v, i) => expect(ga[i]).to.be.closeTo(Math.exp(v) * (1 + v) + [2, 5][i], 1e-6));
    expect(Array.from(b.grad!.toArray())).to.deep.equal(Array.from(Float32Array.from([0.3, -0.2])));
  });

  it('a chain of 10,000 ops does not overflow the stack (no recursion), and its gradient is exact', () => {
    const x = tensor([1]).requiresGrad_();
    let y: Tensor = x;
    for (let i = 0; i < 10000; i++) y = y.add(1);
    y.sum().backward();
    expect(x.grad!.item()).to.equal(1);
  });
});
