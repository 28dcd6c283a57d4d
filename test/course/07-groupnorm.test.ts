/**
 * [assignment 7] GroupNorm (docs/course/07-groupnorm.md): groupNormComposed, GroupNorm as
 * elementwise ops and reductions whose gradient autograd derives, against a loop over
 * (sample, group) and by central differences.
 */
import { expect } from 'chai';
import { groupNormComposed } from '../../src/ops/norm';
import { assertGradCheck, randn, tensor, Generator } from '../../src';

/** GroupNorm of x [N, C, H, W] by loops, in float64. */
function groupNormLoop(x: Float32Array, [n, c, h, w]: number[], groups: number, weight: number[], bias: number[], eps = 1e-5): number[] {
  const out = new Array(x.length).fill(0);
  const per = c / groups;
  for (let b = 0; b < n; b++)
    for (let gi = 0; gi < groups; gi++) {
      const idx: number[] = [];
      for (let ch = gi * per; ch < (gi + 1) * per; ch++) for (let p = 0; p < h * w; p++) idx.push((b * c + ch) * h * w + p);
      const mean = idx.reduce((s, i) => s + x[i], 0) / idx.length;
      const variance = idx.reduce((s, i) => s + (x[i] - mean) ** 2, 0) / idx.length; // biased, as PyTorch's
      for (const i of idx) {
        const ch = Math.floor(i / (h * w)) % c;
        out[i] = ((x[i] - mean) / Math.sqrt(variance + eps)) * weight[ch] + bias[ch];
      }
    }
  return out;
}

describe('[assignment 7: GroupNorm]', () => {
  it('[2, 6, 3, 2] in 3 groups of 2 channels, with weight and bias: the loop\'s values', () => {
    const shape = [2, 6, 3, 2];
    const x = randn(shape, { generator: new Generator(7) }).mul(3).add(1);
    const weight = [1, 0.5, -2, 1.5, 0.25, 3];
    const bias = [0, 0.1, -0.3, 2, -1, 0.5];
    const got = groupNormComposed(x, 3, tensor(weight), tensor(bias)).toArray();
    const want = groupNormLoop(x.toArray(), shape, 3, weight, bias);
    got.forEach((v, i) => expect(v, `element ${i}`).to.be.closeTo(want[i], 1e-4));
  });

  it('without weight and bias each (sample, group) has mean 0 and variance 1; 1 group is LayerNorm over C, H, W', () => {
    const x = randn([3, 4, 2, 2], { generator: new Generator(8) }).mul(5);
    for (const groups of [1, 2, 4]) {
      const got = groupNormComposed(x, groups).toArray();
      const want = groupNormLoop(x.toArray(), [3, 4, 2, 2], groups, [1, 1, 1, 1], [0, 0, 0, 0]);
      got.forEach((v, i) => expect(v, `${groups} groups, element ${i}`).to.be.closeTo(want[i], 1e-4));
    }
  });

  it('its gradients (x, weight, bias) pass gradCheck', () => {
    const g = new Generator(9);
    const r = assertGradCheck((x, w, b) => groupNormComposed(x, 2, w, b).mul(randn([2, 4, 2, 2], { generator: new Generator(1) })), [
      randn([2, 4, 2, 2], { generator: g }),
      randn([4], { generator: g }),
      randn([4], { generator: g }),
    ]);
    expect(r.ok).to.equal(true);
  });
});
