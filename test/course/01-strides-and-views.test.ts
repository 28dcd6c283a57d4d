/**
 * [assignment 1] Strides and views (docs/course/01-strides-and-views.md): permute and slice
 * make views, new (shape, strides, offset) over the same storage, checked against loops over
 * the element formula storage[offset + sum_d i_d * strides[d]].
 */
import { expect } from 'chai';
import { arange, type Tensor } from '../../src';

/** Element [i0, i1, ...] of t read through its strides from its storage, as a loop would. */
function elementAt(t: Tensor, index: number[]): number {
  const storage = t.storage.backend.toArray(t.storage.buf, t.storage.size);
  return storage[index.reduce((at, i, d) => at + i * t.strides[d], t.offset)];
}

describe('[assignment 1: strides and views]', () => {
  const x = () => arange(24).reshape([2, 3, 4]); // x[i][j][k] = 12 i + 4 j + k

  it('permute([2, 0, 1]) of a [2, 3, 4] tensor: shape [4, 2, 3], strides [1, 12, 4], the same storage', () => {
    const a = x();
    const p = a.permute([2, 0, 1]);
    expect(p.shape).to.deep.equal([4, 2, 3]);
    expect(p.strides).to.deep.equal([1, 12, 4]);
    expect(p.offset).to.equal(0);
    expect(p.storage).to.equal(a.storage); // a view: no copy
    for (let k = 0; k < 4; k++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) expect(elementAt(p, [k, i, j])).to.equal(12 * i + 4 * j + k);
  });

  it('transpose(0, 1) swaps two strides, and permuting back gives the original layout', () => {
    const t = x().transpose(0, 1);
    expect(t.shape).to.deep.equal([3, 2, 4]);
    expect(t.strides).to.deep.equal([4, 12, 1]);
    const back = t.permute([1, 0, 2]);
    expect(back.strides).to.deep.equal([12, 4, 1]);
    expect(Array.from(back.toArray())).to.deep.equal(Array.from({ length: 24 }, (_, i) => i));
  });

  it('slice(1, 1, 3): shape [2, 2, 4], the same strides, offset 1 * 4, the same storage', () => {
    const a = x();
    const s = a.slice(1, 1, 3);
    expect(s.shape).to.deep.equal([2, 2, 4]);
    expect(s.strides).to.deep.equal([12, 4, 1]);
    expect(s.offset).to.equal(4);
    expect(s.storage).to.equal(a.storage);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 4; k++) expect(elementAt(s, [i, j, k])).to.equal(12 * i + 4 * (j + 1) + k);
  });

  it('a slice of a permuted view adds start * (that axis\'s stride) to the offset; negative bounds count from the end', () => {
    const v = x().permute([2, 0, 1]).slice(0, -3, -1); // k in 1..2
    expect(v.shape).to.deep.equal([2, 2, 3]);
    expect(v.strides).to.deep.equal([1, 12, 4]);
    expect(v.offset).to.equal(1);
    const want: number[] = [];
    for (let k = 1; k < 3; k++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) want.push(12 * i + 4 * j + k);
    expect(Array.from(v.toArray())).to.deep.equal(want);
    const last = x().slice(2, 3, 4).slice(0, 1, 2); // x[1:2, :, 3:4]
    expect(last.offset).to.equal(12 + 3);
    expect(Array.from(last.toArray())).to.deep.equal([15, 19, 23]);
  });
});
