/**
 * [assignment 11] Classifier-free guidance (docs/course/11-guidance.md; Ho & Salimans 2021):
 *   eps = eps_uncond + w (eps_cond - eps_uncond)
 * with both predictions from one call of the network on 2B images (the conditions, then the
 * null ones), and one plain call when w = 0 (unconditional) or w = 1 (conditional).
 */
import { expect } from 'chai';
import { guidedPredictor } from '../../src/diffusion/objective';
import { randn, tensor, Generator, type Tensor } from '../../src';

describe('[assignment 11: classifier-free guidance]', () => {
  // a toy conditional network: the output depends on the class through a per-image offset (class 10 = null)
  const calls: number[] = [];
  const model = (x: Tensor, t: Tensor, labels?: Int32Array) => {
    calls.push(x.shape[0]);
    const offsets = Array.from(labels!, (y) => (y === 10 ? -0.5 : 0.1 * y));
    return x.mul(0.3).add(tensor(offsets, [offsets.length, 1, 1, 1])).add(t.reshape([t.shape[0], 1, 1, 1]).mul(0.01));
  };
  // made in each test, on the backend current then (other test files switch backends)
  let x: Tensor;
  let t: Tensor;
  beforeEach(() => {
    x = randn([3, 1, 2, 2], { generator: new Generator(3) });
    t = tensor([5, 9, 5]);
  });
  const labels = Int32Array.from([2, 7, 0]);
  const byLoop = (classes: number[]) => Array.from(x.toArray(), (v, i) => {
    const img = Math.floor(i / 4);
    return 0.3 * v + (classes[img] === 10 ? -0.5 : 0.1 * classes[img]) + 0.01 * [5, 9, 5][img];
  });

  for (const w of [0.5, 2, 3, 7.5]) {
    it(`w = ${w}: u + w (c - u), from one call on 6 images`, () => {
      calls.length = 0;
      const got = guidedPredictor(model, labels, w, Int32Array.of(10))(x, t).toArray();
      const u = byLoop([10, 10, 10]);
      const c = byLoop([2, 7, 0]);
      got.forEach((v, i) => expect(v, `element ${i}`).to.be.closeTo(u[i] + w * (c[i] - u[i]), 1e-5));
      expect(calls).to.deep.equal([6]);
    });
  }

  it('w = 0 is the null-class prediction and w = 1 the conditional one, each from one call on 3 images', () => {
    calls.length = 0;
    guidedPredictor(model, labels, 0, Int32Array.of(10))(x, t).toArray().forEach((v, i) => expect(v).to.be.closeTo(byLoop([10, 10, 10])[i], 1e-6));
    guidedPredictor(model, labels, 1, Int32Array.of(10))(x, t).toArray().forEach((v, i) => expect(v).to.be.closeTo(byLoop([2, 7, 0])[i], 1e-6));
    expect(calls).to.deep.equal([3, 3]);
  });
});
