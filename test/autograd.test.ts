/**
 * Unit 2: autograd. The engine (src/autograd.ts): recording, backward, accumulation,
 * noGrad/detach, freed graphs, deep graphs; the graph printers; and gradCheck itself.
 * Gradients are checked against closed forms worked out by hand in each test.
 */
import { expect } from 'chai';
import { Context, Function, isGradEnabled, noGrad, sumToShape } from '../src/autograd';
import { ones, tensor, zeros } from '../src/creation';
import { assertGradCheck, gradCheck } from '../src/gradcheck';
import { printGraph, toDot } from '../src/graph';
import { Generator } from '../src/random';
import { Tensor } from '../src/tensor';
import { forEachBackend } from './helpers/backends';
import { expectClose, expectTensor, randomArr, randomBroadcastPair, refReduce, R } from './helpers/reference';

const leaf = (data: number[], shape?: number[]) => tensor(data, shape, { requiresGrad: true });

/** d/dx x^2 written with a missing factor 2: gradCheck must notice. */
class WrongSquare extends Function {
  forward(ctx: Context, x: Tensor) {
    ctx.saveForBackward(x);
    return x.square();
  }
  backward(ctx: Context, g: Tensor) {
    return [g.mul(ctx.saved[0])]; // should be 2 x g
  }
}

/** The same op with the right derivative, so the check above is known to fail for the right reason. */
class RightSquare extends Function {
  forward(ctx: Context, x: Tensor) {
    ctx.saveForBackward(x);
    return x.square();
  }
  backward(ctx: Context, g: Tensor) {
    return [g.mul(ctx.saved[0]).mul(2)];
  }
}

forEachBackend('[unit 2: autograd] backward', (bc) => {
  const tol = bc.rtol;

  it('computes the gradient of a small expression (closed form)', () => {
    // y = sum(a * b + exp(a)):  dy/da = b + exp(a),  dy/db = a
    const a = leaf([1, -2, 0.5, 3], [2, 2]);
    const b = leaf([0.25, 4, -1, 2], [2, 2]);
    a.mul(b).add(a.exp()).sum().backward();
    expectClose(a.grad!.toArray(), [0.25 + Math.exp(1), 4 + Math.exp(-2), -1 + Math.exp(0.5), 2 + Math.exp(3)], tol, tol, 'dy/da');
    expectClose(b.grad!.toArray(), [1, -2, 0.5, 3], tol, 0, 'dy/db');
    expect(a.grad!.shape).to.deep.equal([2, 2]);
  });

  it('accumulates gradients over two backward calls of two forward passes', () => {
    const x = leaf([1, 2, 3]);
    x.square().sum().backward(); // 2x
    x.mul(3).sum().backward(); // 3
    expectClose(x.grad!.toArray(), [5, 7, 9], tol, 0, 'accumulated');
    x.zeroGrad();
    expect(x.grad).to.equal(null);
    x.mul(3).sum().backward();
    expectClose(x.grad!.toArray(), [3, 3, 3], tol, 0, 'after zeroGrad');
  });

  it('retainGraph lets backward run twice through the same graph, accumulating', () => {
    const x = leaf([1, -2, 3]);
    const y = x.square().mul(x).sum(); // x^3: 3 x^2
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expectClose(x.grad!.toArray(), [6, 24, 54], tol, 0, '2 * 3x^2');
  });

  it('a second backward through a freed graph fails with a clear error', () => {
    const x = leaf([1, 2]);
    const y = x.exp().sum();
    y.backward();
    expect(() => y.backward()).to.throw(/backward: the graph through Sum was already freed by an earlier backward\(\); pass \{retainGraph: true\}/);
    // a graph that shares only its leaf with the freed one still works
    x.zeroGrad();
    x.exp().sum().backward();
    expectClose(x.grad!.toArray(), [Math.E, Math.exp(2)], tol, 0, 'fresh graph');
  });

  it('noGrad records nothing and restores the mode even after an error', () => {
    const x = leaf([1, 2]);
    const y = noGrad(() => {
      expect(isGradEnabled()).to.equal(false);
      return x.mul(2).exp();
    });
    expect(isGradEnabled()).to.equal(true);
    expect(y.gradFn).to.equal(null);
    expect(y.requiresGrad).to.equal(false);
    expect(() => y.sum().backward()).to.throw(/backward: the tensor of shape \[\] does not require grad/);
    expect(() => noGrad(() => { throw new Error('boom'); })).to.throw('boom');
    expect(isGradEnabled(), 'restored after the throw').to.equal(true);
    expect(noGrad(() => noGrad(() => 1) + (isGradEnabled() ? 10 : 0))).to.equal(1);
  });

  it('detach() stops the gradient but shares the values', () => {
    // z = detach(x) * 3 + x:  dz/dx = 1 (the detached branch is a constant)
    const x = leaf([2, 5]);
    const d = x.detach();
    expect(d.requiresGrad).to.equal(false);
    expect(d.gradFn).to.equal(null);
    expect(d.storage).to.equal(x.storage);
    d.mul(3).add(x).sum().backward();
    expectClose(x.grad!.toArray(), [1, 1], tol, 0, 'dz/dx');
  });

  it('requiresGrad propagates from any input; constants get no grad', () => {
    const a = leaf([1, 2]);
    const c = tensor([3, 4]);
    const y = a.mul(c);
    expect(y.requiresGrad).to.equal(true);
    expect(y.gradFn!.name).to.equal('Mul');
    const k = c.add(c);
    expect(k.requiresGrad).to.equal(false);
    expect(k.gradFn).to.equal(null);
    y.sum().backward();
    expect(c.grad).to.equal(null);
    expectClose(a.grad!.toArray(), [3, 4], tol, 0, 'da');
    expect(() => k.sum().backward()).to.throw(/does not require grad/);
    expect(() => y.requiresGrad_(false)).to.throw('requiresGrad_: only leaves can stop requiring grad; use detach()');
    expect(tensor([1]).requiresGrad_().requiresGrad).to.equal(true);
  });

  it('ops skip the gradients no input needs (needsInputGrad)', () => {
    let seen: boolean[] = [];
    class Probe extends Function {
      forward(ctx: Context, a: Tensor, b: Tensor) {
        seen = ctx.needsInputGrad.slice();
        return a.mul(b);
      }
      backward(ctx: Context, g: Tensor) {
        const [a, b] = [ctx.needsInputGrad[0], ctx.needsInputGrad[1]];
        return [a ? g : null, b ? g : null];
      }
    }
    Probe.apply(tensor([1]), leaf([2]));
    expect(seen).to.deep.equal([false, true]);
  });

  it('a 10,000-op chain runs backward without a stack overflow, with the exact gradient', () => {
    // y = x + x + ... + x (10,001 terms) built as a chain of 10,000 adds: dy/dx = 10001 exactly in float32
    const x = leaf([0.5, -1]);
    let y = x;
    for (let i = 0; i < 10000; i++) y = y.add(x);
    expectClose(y.toArray(), [5000.5, -10001], tol, 0, 'value');
    y.sum().backward();
    expectClose(x.grad!.toArray(), [10001, 10001], 0, 0, 'dy/dx');
    // and a chain that uses x once: 10,000 negations, an even number
    const z = leaf([1.5]);
    let w = z;
    for (let i = 0; i < 10000; i++) w = w.neg();
    w.sum().backward();
    expect(z.grad!.item()).to.equal(1);
  });

  it('a diamond graph adds the gradients of both paths, at leaves and inside the graph', () => {
    // leaf used twice: y = exp(x) * sin(x):  dy/dx = exp(x) (sin x + cos x)
    const xs = [0.3, -1.2, 2];
    const x = leaf(xs);
    x.exp().mul(x.sin()).sum().backward();
    expectClose(x.grad!.toArray(), xs.map((v) => Math.exp(v) * (Math.sin(v) + Math.cos(v))), tol, tol, 'leaf diamond');
    // inner node used twice: h = x^2, y = sin(h) + cos(h):  dy/dx = (cos h - sin h) 2x
    const u = leaf(xs);
    const h = u.square();
    h.sin().add(h.cos()).sum().backward();
    expectClose(u.grad!.toArray(), xs.map((v) => (Math.cos(v * v) - Math.sin(v * v)) * 2 * v), tol, tol, 'inner diamond');
    // the same tensor as both inputs of one op: d(x*x)/dx = 2x
    const v = leaf(xs);
    v.mul(v).sum().backward();
    expectClose(v.grad!.toArray(), xs.map((q) => 2 * q), tol, 0, 'x * x');
  });

  it('backward on a non-scalar needs an explicit gradient of the output shape', () => {
    const x = leaf([1, 2, 3, 4, 5, 6], [2, 3]);
    const y = x.mul(3);
    expect(() => y.backward()).to.throw('backward: a gradient can only be implied for a scalar output, got shape [2,3]; pass backward(grad)');
    expect(() => y.backward(ones([3, 2]))).to.throw('backward: gradient shape [3,2] differs from the output shape [2,3]');
    const g = tensor([1, -1, 2, 0, 0.5, 3], [2, 3]);
    y.backward(g);
    expectClose(x.grad!.toArray(), [3, -3, 6, 0, 1.5, 9], tol, 0, 'vector-Jacobian product');
  });

  it('backward on a leaf itself seeds its gradient with ones', () => {
    const x = leaf([4]);
    x.backward();
    expect(x.grad!.item()).to.equal(1);
  });

  it('broadcast inputs get gradients summed back to their own shape (sumToShape)', () => {
    const gen = new Generator(31);
    for (let c = 0; c < 8; c++) {
      const [sa, sb] = randomBroadcastPair(gen, 1, 3, 3);
      const a = leaf(randomArr(gen, sa).data, sa);
      const b = leaf(randomArr(gen, sb).data, sb);
      a.add(b).sum().backward();
      // d sum(a + b)/da = how many output elements each element of a feeds
      const out = a.add(b).size;
      expectClose(a.grad!.toArray(), new Array(a.size).fill(out / a.size), tol, 0, `da for [${sa}] + [${sb}]`);
      expectClose(b.grad!.toArray(), new Array(b.size).fill(out / b.size), tol, 0, `db for [${sa}] + [${sb}]`);
    }
    // sumToShape directly: [2, 3, 4] -> [3, 1] sums over axis 0 (added) and axis 2 (was 1)
    const g = randomArr(gen, [2, 3, 4]);
    const want = refReduce(g, [0, 2], false, R.sum);
    expectTensor(sumToShape(tensor(g.data, g.shape), [3, 1]), { data: want.data, shape: [3, 1] }, tol, tol, 'sumToShape');
  });
});

forEachBackend('[unit 2: autograd] gradients of views', () => {
  it('reshape, permute, transpose, slice, select, expand, squeeze and contiguous pass gradients back (gradCheck)', () => {
    const gen = new Generator(32);
    const x = tensor(randomArr(gen, [2, 3, 4]).data, [2, 3, 4]);
    const cases: [string, (t: Tensor) => Tensor][] = [
      ['reshape', (t) => t.reshape(4, -1).square()],
      ['permute', (t) => t.permute(2, 0, 1).reshape(-1).mul(tensor([...Array(24).keys()], [24]))],
      ['transpose + contiguous', (t) => t.transpose(0, 2).contiguous().sin()],
      ['slice', (t) => t.slice(1, 1, 3).slice(2, -3, -1).exp()],
      ['select', (t) => t.select(2, -1).square().add(t.select(0, 1).sum(1))],
      ['expand', (t) => t.slice(1, 0, 1).expand(2, 5, 4).square()],
      ['squeeze / unsqueeze', (t) => t.slice(0, 1, 2).squeeze(0).unsqueeze(-1).mul(t.select(0, 0).unsqueeze(1))],
      ['flatten', (t) => t.flatten(1).cos()],
    ];
    for (const [name, f] of cases) {
      const r = gradCheck(f, [x]);
      expect(r.ok, `${name}: worst ${JSON.stringify(r.worst)}`).to.equal(true);
    }
  });

  it('slice puts the gradient back in place with zeros elsewhere (closed form)', () => {
    const x = leaf([...Array(12).keys()], [3, 4]);
    x.slice(1, 1, 3).sum().backward();
    expect(x.grad!.tolist()).to.deep.equal([[0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0]]);
  });
});

forEachBackend('[unit 2: autograd] looking at the graph', () => {
  it('toDot draws one box per op with its output shape and one ellipse per leaf', () => {
    const x = leaf([1, 2, 3, 4, 5, 6], [2, 3]);
    x.name = 'x';
    const w = leaf([1, 2, 3], [3]);
    w.name = 'w';
    const y = x.mul(w).exp().sum();
    const dot = toDot(y);
    expect(dot.startsWith('digraph autograd {')).to.equal(true);
    expect(dot.trimEnd().endsWith('}')).to.equal(true);
    expect(dot).to.match(/label="Sum\\n\[\]"/);
    expect(dot).to.match(/label="Exp\\n\[2, 3\]"/);
    expect(dot).to.match(/label="Mul\\n\[2, 3\]"/);
    expect(dot).to.match(/shape=ellipse.*label="x\\n\[2, 3\]\\ngrad: none yet"/);
    expect(dot).to.match(/shape=ellipse.*label="w\\n\[3\]\\ngrad: none yet"/);
    expect(dot.match(/ -> /g), 'edges: x->Mul, w->Mul, Mul->Exp, Exp->Sum').to.have.length(4);
    y.backward();
    expect(toDot(y)).to.match(/label="w\\n\[3\]\\ngrad \[3\]"/);
  });

  it('printGraph prints the tree root first, a shared node once', () => {
    const x = leaf([1, 2, 3, 4, 5, 6], [2, 3]);
    x.name = 'x';
    const w = tensor([1, 2, 3]);
    const h = x.mul(w);
    const y = h.add(h.exp()).sum();
    expect(printGraph(y)).to.equal(
      ['Sum []', '  Add [2, 3]', '    Mul [2, 3]', '      x [2, 3]', '      const [3]', '    Exp [2, 3]', '      Mul [2, 3] (see above)'].join('\n'),
    );
  });
});

forEachBackend('[unit 2: autograd] gradCheck', () => {
  it('catches a wrong backward, and passes the right one', () => {
    const x = tensor([0.5, -1.5, 2, 1], [2, 2]);
    const wrong = gradCheck((t) => WrongSquare.apply(t), [x]);
    expect(wrong.ok).to.equal(false);
    expect(wrong.worst!.numeric).to.be.closeTo(2 * wrong.worst!.analytic, 0.05 * Math.abs(wrong.worst!.numeric) + 1e-3);
    expect(() => assertGradCheck((t) => WrongSquare.apply(t), [x])).to.throw(/gradCheck failed: input 0 \[2,2\] element \d: analytic/);
    const right = gradCheck((t) => RightSquare.apply(t), [x]);
    expect(right.ok, JSON.stringify(right.worst)).to.equal(true);
    expect(right.checked).to.equal(4);
  });

  it('checks every input, at most maxElements per input', () => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tensor([1, 2, 3], [3]);
    const r = gradCheck((p, q) => p.mul(q), [a, b]);
    expect(r.ok).to.equal(true);
    expect(r.checked).to.equal(9);
    expect(gradCheck((p, q) => p.mul(q), [a, b], { maxElements: 2 }).checked).to.equal(4);
    // a gradient that is wrong only for the second input is still caught
    class HalfWrong extends Function {
      forward(_ctx: Context, p: Tensor, q: Tensor) {
        return p.add(q);
      }
      backward(_ctx: Context, g: Tensor) {
        return [g, g.mul(0)];
      }
    }
    const bad = gradCheck((p, q) => HalfWrong.apply(p, q), [zeros([2]), zeros([2])]);
    expect(bad.ok).to.equal(false);
    expect(bad.worst!.input).to.equal(1);
  });
});
