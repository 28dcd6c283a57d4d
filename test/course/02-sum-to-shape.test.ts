/**
 * [assignment 2] Broadcasting undone (docs/course/02-sum-to-shape.md): sumToShape sums a
 * gradient of a broadcast shape back to the input's shape, checked against loops.
 */
import { expect } from 'chai';
import { sumToShape, tensor } from '../../src';

/** Sum g [2, 3, 4] (values 0..23) over the axes where `shape` (right-aligned) has 1 or nothing: a loop. */
function loopSum(shape: number[]): number[] {
  const full = [2, 3, 4];
  const lead = full.length - shape.length;
  const size = (d: number) => (d < lead ? 1 : shape[d - lead]);
  const out = new Array(shape.reduce((a, b) => a * b, 1)).fill(0);
  for (let i = 0; i < 2; i++)
    for (let j = 0; j < 3; j++)
      for (let k = 0; k < 4; k++) {
        const idx = [i, j, k].map((v, d) => (size(d) === 1 ? 0 : v));
        const flat = idx.slice(lead).reduce((at, v, d) => at * shape[d] + v, 0);
        out[flat] += 12 * i + 4 * j + k;
      }
  return out;
}

describe('[assignment 2: broadcasting undone: sumToShape]', () => {
  const g = () => tensor(Array.from({ length: 24 }, (_, i) => i), [2, 3, 4]);

  for (const shape of [[4], [3, 1], [1, 4], [2, 1, 4], [1, 3, 1], [1, 1, 1], [1], [2, 3, 1]]) {
    it(`[2, 3, 4] -> [${shape}] sums over the broadcast axes`, () => {
      const r = sumToShape(g(), shape);
      expect(r.shape).to.deep.equal(shape);
      expect(Array.from(r.toArray())).to.deep.equal(loopSum(shape));
    });
  }

  it('the same shape comes back unchanged; a scalar shape [] sums everything', () => {
    expect(Array.from(sumToShape(g(), [2, 3, 4]).toArray())).to.deep.equal(Array.from({ length: 24 }, (_, i) => i));
    const s = sumToShape(g(), []);
    expect(s.shape).to.deep.equal([]);
    expect(s.item()).to.equal(276);
  });
});
