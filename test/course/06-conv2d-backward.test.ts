/**
 * [assignment 6] conv2d backward (docs/course/06-conv2d-backward.md): the reference
 * backend's conv2dBackwardInput and conv2dBackwardWeight. conv2d is linear in x and in w, so
 * its backward maps are its adjoints: for every x, w and output gradient gy,
 *   <conv2d(x, w), gy> = <x, backwardInput(gy, w)> = <w, backwardWeight(x, gy)>.
 * Checked on random tensors (float64 sums of the float32 arrays), and one element against a
 * central difference of the loss sum(conv2d(x, w) * gy).
 */
import { expect } from 'chai';
import { conv2dParams } from '../../src/ops/conv';
import { conv2d, conv2dBackwardInput, conv2dBackwardWeight } from '../../src/backend/ref/conv';
import { Generator } from '../../src';

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);
const random = (n: number, g: Generator) => Float32Array.from({ length: n }, () => g.normal());

describe('[assignment 6: conv2d backward]', () => {
  for (const [name, xs, ws, opts] of [
    ['3x3, padding 1, stride 1 (the UNet\'s convs)', [2, 3, 6, 5], [4, 3, 3, 3], { padding: 1 }],
    ['3x3, padding 1, stride 2 (its downsampling)', [1, 2, 7, 7], [3, 2, 3, 3], { padding: 1, stride: 2 }],
    ['1x1 (its skip projections)', [2, 4, 3, 3], [2, 4, 1, 1], {}],
    ['2x3 kernel, no padding, stride [2, 1]', [1, 1, 5, 6], [2, 1, 2, 3], { stride: [2, 1] }],
  ] as [string, number[], number[], { padding?: number; stride?: number | [number, number] }][]) {
    it(`adjoint identities: ${name}`, () => {
      const g = new Generator(11);
      const p = conv2dParams(xs, ws, opts as never);
      const x = random(xs.reduce((a, b) => a * b), g);
      const w = random(ws.reduce((a, b) => a * b), g);
      const gy = random(p.n * p.cout * p.oh * p.ow, g);
      const y = conv2d(x, w, p);
      const dx = conv2dBackwardInput(gy, w, p);
      const dw = conv2dBackwardWeight(x, gy, p);
      expect(dx.length).to.equal(x.length);
      expect(dw.length).to.equal(w.length);
      const lhs = dot(y, gy);
      expect(dot(x, dx)).to.be.closeTo(lhs, 1e-4 * (1 + Math.abs(lhs)));
      expect(dot(w, dw)).to.be.closeTo(lhs, 1e-4 * (1 + Math.abs(lhs)));
      // and element by element: dL/dx_i is the change of L = <conv2d(x, w), gy> when x_i moves
      for (const i of [0, Math.floor(x.length / 2), x.length - 1]) {
        const e = new Float32Array(x.length);
        e[i] = 1;
        expect(dx[i], `dx[${i}]`).to.be.closeTo(dot(conv2d(e, w, p), gy), 1e-4);
      }
      for (const i of [0, w.length - 1]) {
        const e = new Float32Array(w.length);
        e[i] = 1;
        expect(dw[i], `dw[${i}]`).to.be.closeTo(dot(conv2d(x, e, p), gy), 1e-4);
      }
    });
  }
});
