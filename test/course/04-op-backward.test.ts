/**
 * [assignment 4] An op's backward (docs/course/04-op-backward.md): Div, Sigmoid and Tanh,
 * checked against their closed forms and by central differences (gradCheck).
 */
import { expect } from 'chai';
import { assertGradCheck, randn, tensor, Generator } from '../../src';

describe("[assignment 4: an op's backward, checked by gradCheck]", () => {
  it('a / b: da = g / b, db = -g a / b^2 (closed form)', () => {
    const a = tensor([1, -2, 3]).requiresGrad_();
    const b = tensor([2, 4, -0.5]).requiresGrad_();
    a.div(b).sum().backward();
    const ga = a.grad!.toArray();
    const gb = b.grad!.toArray();
    [2, 4, -0.5].forEach((bv, i) => {
      expect(ga[i]).to.be.closeTo(1 / bv, 1e-6);
      expect(gb[i]).to.be.closeTo(-[1, -2, 3][i] / (bv * bv), 1e-6);
    });
  });

  it('a / b passes gradCheck, with b broadcast along the rows', () => {
    const a = randn([3, 4], { generator: new Generator(1) });
    const b = randn([4], { generator: new Generator(2) }).abs().add(0.5);
    expect(assertGradCheck((x, y) => x.div(y), [a, b]).ok).to.equal(true);
  });

  it('sigmoid: s (1 - s); tanh: 1 - tanh^2 (closed forms, and gradCheck)', () => {
    const xs = [-3, -0.5, 0, 0.7, 2.5];
    const x = tensor(xs).requiresGrad_();
    x.sigmoid().sum().backward();
    x.grad!.toArray().forEach((g, i) => {
      const s = 1 / (1 + Math.exp(-xs[i]));
      expect(g).to.be.closeTo(s * (1 - s), 1e-6);
    });
    const y = tensor(xs).requiresGrad_();
    y.tanh().sum().backward();
    y.grad!.toArray().forEach((g, i) => expect(g).to.be.closeTo(1 - Math.tanh(xs[i]) ** 2, 1e-6));
    for (const f of ['sigmoid', 'tanh'] as const) {
      expect(assertGradCheck((v) => v[f]().mul(v), [randn([2, 5], { generator: new Generator(3) })]).ok, f).to.equal(true);
    }
  });
});
