/**
 * Tests for the FID math: the Jacobi eigensolver, the PSD square root, the sample
 * covariance, and the Fréchet distance itself. Expected values come from independent
 * computations: naive loops written here, closed forms, and one number from
 * numpy/scipy (the reference FID implementation's formula).
 */
import { expect } from 'chai';
import { covariance, matmul, mean, sqrtmPsd, symmetricEigen, trace, transpose } from '../src/metrics/linalg';
import { featureStats, frechetDistance, FeatureStats } from '../src/metrics/fid';

// ---- helpers, deliberately independent of the code under test -----------------------

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** standard normal sampler (Box-Muller) */
function normal(seed: number): () => number {
  const u = rng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** Textbook triple-loop product of row-major n x k and k x m matrices. */
function naiveMul(a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number): Float64Array {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += a[i * k + l] * b[l * m + j];
      c[i * m + j] = s;
    }
  return c;
}

function naiveT(a: ArrayLike<number>, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = a[i * n + j];
  return t;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function identity(n: number): Float64Array {
  const e = new Float64Array(n * n);
  for (let i = 0; i < n; i++) e[i * n + i] = 1;
  return e;
}

function diag(d: number[]): Float64Array {
  const n = d.length;
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = d[i];
  return m;
}

/** random symmetric matrix with N(0,1) entries */
function randomSymmetric(n: number, seed: number): Float64Array {
  const g = normal(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) {
      const v = g();
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
  return a;
}

/** random symmetric positive definite matrix B B^T / n + shift I */
function randomSpd(n: number, seed: number, shift = 0.1): Float64Array {
  const g = normal(seed);
  const b = Float64Array.from({ length: n * n }, g);
  const s = naiveMul(b, naiveT(b, n), n, n, n);
  for (let i = 0; i < n * n; i++) s[i] /= n;
  for (let i = 0; i < n; i++) s[i * n + i] += shift;
  return s;
}

/** Orthogonal Q: product of Givens rotations G(p, q, theta) with known angles. */
function knownRotation(n: number): Float64Array {
  let q = identity(n);
  for (let p = 0; p < n - 1; p++) {
    const theta = 0.3 + 0.7 * p; // arbitrary, fixed
    const g = identity(n);
    g[p * n + p] = Math.cos(theta);
    g[p * n + p + 1] = -Math.sin(theta);
    g[(p + 1) * n + p] = Math.sin(theta);
    g[(p + 1) * n + p + 1] = Math.cos(theta);
    q = naiveMul(q, g, n, n, n);
  }
  return q;
}

/** Q D Q^T */
function conjugate(q: Float64Array, d: number[]): Float64Array {
  const n = d.length;
  return naiveMul(naiveMul(q, diag(d), n, n, n), naiveT(q, n), n, n, n);
}

/**
 * count samples of N(mu, L L^T) as a row-major count x dim array, with L a fixed random
 * lower-triangular mixing matrix so the features are correlated. The off-diagonal
 * entries are scaled by 1/sqrt(dim) to keep L L^T well conditioned: with O(1) entries a
 * random triangular matrix has a condition number growing like 2^dim (about 1e14 for
 * L L^T at dim 128), and every FID implementation then loses most of its digits.
 */
function gaussianSamples(count: number, dim: number, seed: number, mu?: number[]): Float64Array {
  const g = normal(seed);
  const mix = normal(seed + 1000);
  const l = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) for (let j = 0; j <= i; j++) l[i * dim + j] = i === j ? 1 : (0.5 * mix()) / Math.sqrt(dim);
  const x = new Float64Array(count * dim);
  const z = new Float64Array(dim);
  for (let s = 0; s < count; s++) {
    for (let j = 0; j < dim; j++) z[j] = g();
    for (let i = 0; i < dim; i++) {
      let v = mu ? mu[i] : 0;
      for (let j = 0; j <= i; j++) v += l[i * dim + j] * z[j];
      x[s * dim + i] = v;
    }
  }
  return x;
}

function shifted(x: Float64Array, count: number, dim: number, shift: number[]): Float64Array {
  const y = new Float64Array(x.length);
  for (let s = 0; s < count; s++) for (let j = 0; j < dim; j++) y[s * dim + j] = x[s * dim + j] + shift[j];
  return y;
}

function stats(mu: number[], sigma: Float64Array): FeatureStats {
  return { mu: Float64Array.from(mu), sigma, count: 0, dim: mu.length };
}

// ---- linalg -------------------------------------------------------------------------

describe('[unit 7: evaluation] metrics/linalg', () => {
  describe('matmul, transpose, trace', () => {
    it('multiplies rectangular matrices like the textbook loop', () => {
      const a = Float64Array.from([1, 2, 3, 4, 5, 6]); // 2x3
      const b = Float64Array.from([7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]); // 3x4
      // first entry by hand: 1*7 + 2*11 + 3*15 = 74
      const c = matmul(a, b, 2, 3, 4);
      expect(c[0]).to.equal(74);
      expect(Array.from(c)).to.deep.equal(Array.from(naiveMul(a, b, 2, 3, 4)));
      const s = randomSymmetric(9, 1);
      const t = randomSymmetric(9, 2);
      expect(maxAbsDiff(matmul(s, t, 9), naiveMul(s, t, 9, 9, 9))).to.be.below(1e-12);
    });

    it('transposes and takes traces', () => {
      const a = Float64Array.from([1, 2, 3, 4, 5, 6]); // 2x3
      expect(Array.from(transpose(a, 2, 3))).to.deep.equal([1, 4, 2, 5, 3, 6]);
      expect(trace(Float64Array.from([1, 2, 3, 4]), 2)).to.equal(5);
    });

    it('rejects wrongly sized inputs', () => {
      expect(() => matmul(new Float64Array(6), new Float64Array(6), 2, 3, 3)).to.throw(/B should be 3x3/);
      expect(() => trace(new Float64Array(5), 2)).to.throw(/2x2/);
    });
  });

  describe('symmetricEigen (cyclic Jacobi)', () => {
    for (const n of [1, 2, 3, 7, 20, 40]) {
      it(`reconstructs a random symmetric ${n}x${n} matrix as V diag(lambda) V^T with V orthonormal`, () => {
        const a = randomSymmetric(n, 100 + n);
        const { values, vectors } = symmetricEigen(a, n);
        const vlv = naiveMul(naiveMul(vectors, diag(Array.from(values)), n, n, n), naiveT(vectors, n), n, n, n);
        expect(maxAbsDiff(vlv, a)).to.be.below(1e-12 * Math.max(1, maxAbs(a)) * n);
        const vtv = naiveMul(naiveT(vectors, n), vectors, n, n, n);
        expect(maxAbsDiff(vtv, identity(n))).to.be.below(1e-12 * n);
        // A v_j = lambda_j v_j, column by column
        const av = naiveMul(a, vectors, n, n, n);
        for (let j = 0; j < n; j++)
          for (let i = 0; i < n; i++) expect(av[i * n + j]).to.be.closeTo(values[j] * vectors[i * n + j], 1e-11 * n);
        for (let j = 1; j < n; j++) expect(values[j]).to.be.at.least(values[j - 1]);
        // the trace is the sum of the eigenvalues
        expect(values.reduce((s, v) => s + v, 0)).to.be.closeTo(trace(a, n), 1e-12 * n);
      });
    }

    it('finds the eigenvalues 1 and 3 of [[2,1],[1,2]]', () => {
      const { values, vectors } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
      expect(values[0]).to.be.closeTo(1, 1e-15);
      expect(values[1]).to.be.closeTo(3, 1e-15);
      // eigenvector of 3 is (1, 1)/sqrt(2), up to sign
      expect(Math.abs(vectors[1])).to.be.closeTo(Math.SQRT1_2, 1e-15);
      expect(vectors[1] * vectors[3]).to.be.closeTo(0.5, 1e-15);
    });

    it('handles diagonal, zero and repeated-eigenvalue matrices', () => {
      const d = symmetricEigen(diag([3, -1, 2]), 3);
      expect(Array.from(d.values)).to.deep.equal([-1, 2, 3]);
      expect(d.sweeps).to.equal(0);

      const z = symmetricEigen(new Float64Array(16), 4);
      expect(Array.from(z.values)).to.deep.equal([0, 0, 0, 0]);
      expect(Array.from(z.vectors)).to.deep.equal(Array.from(identity(4)));

      // Q diag(1, 1, 1, 4) Q^T: a 3-dimensional eigenspace, any orthonormal basis of it is fine
      const q = knownRotation(4);
      const a = conjugate(q, [1, 1, 1, 4]);
      const { values, vectors } = symmetricEigen(a, 4);
      expect(maxAbsDiff(values, [1, 1, 1, 4])).to.be.below(1e-14);
      expect(maxAbsDiff(naiveMul(naiveT(vectors, 4), vectors, 4, 4, 4), identity(4))).to.be.below(1e-14);
    });

    it('throws a clear error on a non-symmetric matrix', () => {
      const a = Float64Array.from([1, 2, 3, 4]);
      expect(() => symmetricEigen(a, 2)).to.throw(/symmetricEigen: matrix is not symmetric: entry \(0, 1\) = 2 but \(1, 0\) = 3/);
    });

    it('accepts rounding-level asymmetry (and symmetrises it)', () => {
      const a = Float64Array.from([2, 1, 1 + 1e-15, 2]);
      const { values } = symmetricEigen(a, 2);
      expect(values[1]).to.be.closeTo(3, 1e-14);
    });

    it('throws a clear error on NaN or on a wrong size', () => {
      const a = Float64Array.from([1, NaN, NaN, 1]);
      expect(() => symmetricEigen(a, 2)).to.throw(/entry \(0, 1\) is NaN/);
      expect(() => symmetricEigen(new Float64Array(5), 2)).to.throw(/expected an 2x2 matrix/);
    });

    it('throws when the sweep limit is reached before convergence', () => {
      expect(() => symmetricEigen(randomSymmetric(10, 3), 10, { maxSweeps: 1 })).to.throw(/did not converge in 1 sweeps/);
    });
  });

  describe('sqrtmPsd', () => {
    it('takes square roots of diagonal entries', () => {
      const r = sqrtmPsd(diag([4, 9, 0.25, 0]), 4);
      expect(maxAbsDiff(r, diag([2, 3, 0.5, 0]))).to.be.below(1e-15);
    });

    it('gives Q sqrt(D) Q^T for a rotated diagonal Q D Q^T', () => {
      const n = 5;
      const q = knownRotation(n);
      const d = [0.5, 1, 2, 7, 10];
      const r = sqrtmPsd(conjugate(q, d), n);
      expect(maxAbsDiff(r, conjugate(q, d.map(Math.sqrt)))).to.be.below(1e-13);
      expect(maxAbsDiff(naiveMul(r, r, n, n, n), conjugate(q, d))).to.be.below(1e-13);
    });

    it('matches the closed form for [[2,1],[1,2]]', () => {
      // eigenvalues 3, 1 with eigenvectors (1,1)/sqrt2, (1,-1)/sqrt2, so the root is
      // (sqrt3/2) [[1,1],[1,1]] + (1/2) [[1,-1],[-1,1]]
      const s3 = Math.sqrt(3);
      const expected = [(s3 + 1) / 2, (s3 - 1) / 2, (s3 - 1) / 2, (s3 + 1) / 2];
      const r = sqrtmPsd(Float64Array.from([2, 1, 1, 2]), 2);
      expect(maxAbsDiff(r, expected)).to.be.below(1e-15);
      expect(maxAbsDiff(naiveMul(r, r, 2, 2, 2), [2, 1, 1, 2])).to.be.below(1e-14);
    });

    it('handles a singular PSD matrix: sqrt([[1,1],[1,1]]) = [[1,1],[1,1]]/sqrt2', () => {
      const r = sqrtmPsd(Float64Array.from([1, 1, 1, 1]), 2);
      expect(maxAbsDiff(r, [Math.SQRT1_2, Math.SQRT1_2, Math.SQRT1_2, Math.SQRT1_2])).to.be.below(1e-15);
    });

    it('squares back to a random 30x30 SPD matrix', () => {
      const n = 30;
      const a = randomSpd(n, 7);
      const r = sqrtmPsd(a, n);
      expect(maxAbsDiff(naiveMul(r, r, n, n, n), a)).to.be.below(1e-12 * maxAbs(a));
      expect(maxAbsDiff(r, naiveT(r, n))).to.equal(0);
      expect(symmetricEigen(r, n).values[0]).to.be.above(0);
    });
  });

  describe('mean and covariance', () => {
    it('matches numpy.cov(x, rowvar=False) on a hand example', () => {
      // x rows: (1,2), (3,4), (5,7). Means (3, 13/3).
      // var0 = (4 + 0 + 4)/2 = 4; var1 = (49 + 1 + 64)/9/2 = 19/3; cov = (14/3 + 0 + 16/3)/2 = 5
      const x = Float64Array.from([1, 2, 3, 4, 5, 7]);
      expect(maxAbsDiff(mean(x, 3, 2), [3, 13 / 3])).to.be.below(1e-15);
      expect(maxAbsDiff(covariance(x, 3, 2), [4, 5, 5, 19 / 3])).to.be.below(1e-14);
    });

    it('matches a plain two-pass loop on random correlated data', () => {
      const count = 57;
      const dim = 6;
      const x = gaussianSamples(count, dim, 11, [1, -2, 3, 0, 5, -1]);
      // two-pass reference: means first, then centred products, entry by entry
      const mu = new Array<number>(dim).fill(0);
      for (let s = 0; s < count; s++) for (let j = 0; j < dim; j++) mu[j] += x[s * dim + j] / count;
      const expected = new Float64Array(dim * dim);
      for (let j = 0; j < dim; j++)
        for (let k = 0; k < dim; k++) {
          let acc = 0;
          for (let s = 0; s < count; s++) acc += (x[s * dim + j] - mu[j]) * (x[s * dim + k] - mu[k]);
          expected[j * dim + k] = acc / (count - 1);
        }
      expect(maxAbsDiff(mean(x, count, dim), mu)).to.be.below(1e-13);
      expect(maxAbsDiff(covariance(x, count, dim), expected)).to.be.below(1e-13);
    });

    it('is not thrown off by a large mean (two-pass, not E[xx] - mu mu)', () => {
      const count = 40;
      const dim = 3;
      const x = gaussianSamples(count, dim, 12);
      const far = shifted(x, count, dim, [1e8, -1e8, 1e8]);
      expect(maxAbsDiff(covariance(far, count, dim), covariance(x, count, dim))).to.be.below(1e-6);
    });

    it('accepts Float32Array input', () => {
      const x = Float32Array.from([1, 2, 3, 4, 5, 7]);
      expect(maxAbsDiff(covariance(x, 3, 2), [4, 5, 5, 19 / 3])).to.be.below(1e-14);
    });

    it('rejects fewer than 2 samples and wrongly sized input', () => {
      expect(() => covariance(Float64Array.from([1, 2]), 1, 2)).to.throw(/at least 2 samples/);
      expect(() => covariance(new Float64Array(7), 3, 2)).to.throw(/expected count\*dim = 3\*2 = 6 values, got 7/);
    });
  });
});

// ---- FID ----------------------------------------------------------------------------

describe('[unit 7: evaluation] metrics/fid', () => {
  it('featureStats returns the mean and the unbiased covariance', () => {
    const s = featureStats(Float32Array.from([1, 2, 3, 4, 5, 7]), 3, 2);
    expect(s.count).to.equal(3);
    expect(s.dim).to.equal(2);
    expect(maxAbsDiff(s.mu, [3, 13 / 3])).to.be.below(1e-15);
    expect(maxAbsDiff(s.sigma, [4, 5, 5, 19 / 3])).to.be.below(1e-14);
  });

  it('FID(x, x) = 0', () => {
    const count = 200;
    const dim = 16;
    const s = featureStats(gaussianSamples(count, dim, 21), count, dim);
    const scale = 2 * trace(s.sigma, dim);
    expect(frechetDistance(s, s)).to.be.at.most(1e-9 * scale);
  });

  it('is symmetric in its two arguments', () => {
    const dim = 8;
    const a = featureStats(gaussianSamples(100, dim, 31), 100, dim);
    const b = featureStats(gaussianSamples(120, dim, 32), 120, dim);
    expect(frechetDistance(a, b)).to.be.closeTo(frechetDistance(b, a), 1e-10);
  });

  it('equals |mu1 - mu2|^2 when the covariances are equal', () => {
    const dim = 10;
    const sigma = randomSpd(dim, 41);
    const g = normal(42);
    const mu1 = Array.from({ length: dim }, g);
    const mu2 = Array.from({ length: dim }, g);
    const dmu2 = mu1.reduce((s, m, i) => s + (m - mu2[i]) ** 2, 0);
    expect(frechetDistance(stats(mu1, sigma), stats(mu2, sigma))).to.be.closeTo(dmu2, 1e-10 * dmu2);

    // and the same from samples: y = x + shift has exactly the covariance of x
    const count = 150;
    const x = gaussianSamples(count, dim, 43);
    const shift = Array.from({ length: dim }, (_, i) => 0.1 * (i - 4));
    const fid = frechetDistance(featureStats(x, count, dim), featureStats(shifted(x, count, dim, shift), count, dim));
    const shift2 = shift.reduce((s, v) => s + v * v, 0);
    expect(fid).to.be.closeTo(shift2, 1e-9 * shift2);
  });

  it('equals sum((sqrt(s1) - sqrt(s2))^2) + |dmu|^2 for diagonal covariances', () => {
    const s1 = [0.5, 1, 2, 4, 9];
    const s2 = [2, 1, 0.1, 16, 1];
    const mu1 = [0, 1, 2, 3, 4];
    const mu2 = [1, 1, 0, 3, 4.5];
    let expected = 0;
    for (let i = 0; i < 5; i++) expected += (Math.sqrt(s1[i]) - Math.sqrt(s2[i])) ** 2 + (mu1[i] - mu2[i]) ** 2;
    expect(frechetDistance(stats(mu1, diag(s1)), stats(mu2, diag(s2)))).to.be.closeTo(expected, 1e-12);

    // Rotating both covariances by the same Q changes nothing (they still commute),
    // but now the solver has real work to do.
    const q = knownRotation(5);
    expect(frechetDistance(stats(mu1, conjugate(q, s1)), stats(mu2, conjugate(q, s2)))).to.be.closeTo(expected, 1e-11);
  });

  it('matches a closed form for non-commuting 2x2 covariances', () => {
    // For a 2x2 matrix X with eigenvalues l1, l2 >= 0:
    //   (sqrt(l1) + sqrt(l2))^2 = tr X + 2 sqrt(det X), so Tr(X^{1/2}) = sqrt(tr X + 2 sqrt(det X)).
    // With X = S1 S2: det X = det S1 det S2.
    for (let seed = 0; seed < 5; seed++) {
      const s1 = randomSpd(2, 50 + seed);
      const s2 = randomSpd(2, 60 + seed);
      const det = (m: Float64Array) => m[0] * m[3] - m[1] * m[2];
      const trX = trace(naiveMul(s1, s2, 2, 2, 2), 2);
      const trSqrt = Math.sqrt(trX + 2 * Math.sqrt(det(s1) * det(s2)));
      const expected = 1 + trace(s1, 2) + trace(s2, 2) - 2 * trSqrt; // |dmu|^2 = 1
      expect(frechetDistance(stats([0, 0], s1), stats([1, 0], s2))).to.be.closeTo(expected, 1e-12);
    }
  });

  it('matches numpy/scipy (the reference formula with scipy.linalg.sqrtm(S1 @ S2))', () => {
    // python: d@d + trace(s1) + trace(s2) - 2*trace(scipy.linalg.sqrtm(s1 @ s2)).real
    const s1 = Float64Array.from([2.0, 0.5, 0.3, 0.5, 1.0, -0.2, 0.3, -0.2, 0.7]);
    const s2 = Float64Array.from([1.0, -0.4, 0.1, -0.4, 1.5, 0.6, 0.1, 0.6, 2.5]);
    const fid = frechetDistance(stats([0.5, -1.0, 2.0], s1), stats([1.5, 0.0, 1.0], s2));
    expect(fid).to.be.closeTo(4.3771182807416515, 1e-12);
  });

  it('grows monotonically (as t^2 |v|^2) with a shift t v of the mean', () => {
    const count = 100;
    const dim = 12;
    const x = gaussianSamples(count, dim, 71);
    const a = featureStats(x, count, dim);
    const v = Array.from({ length: dim }, (_, i) => Math.cos(i));
    const v2 = v.reduce((s, e) => s + e * e, 0);
    let previous = -1;
    for (const t of [0, 0.1, 0.25, 0.5, 1, 2, 4]) {
      const fid = frechetDistance(a, featureStats(shifted(x, count, dim, v.map((e) => t * e)), count, dim));
      expect(fid).to.be.above(previous);
      expect(fid).to.be.closeTo(t * t * v2, 1e-9 * Math.max(1, t * t * v2));
      previous = fid;
    }
  });

  it('is never negative, even with rank-deficient covariances (fewer samples than dims)', () => {
    const dim = 20;
    const x = gaussianSamples(8, dim, 81);
    const s = featureStats(x, 8, dim);
    expect(symmetricEigen(s.sigma, dim).values[0]).to.be.closeTo(0, 1e-12); // singular
    const fid = frechetDistance(s, s);
    expect(fid).to.be.at.least(0);
    expect(fid).to.be.below(1e-6 * trace(s.sigma, dim));
  });

  it('works on 128-dimensional features', () => {
    const count = 300;
    const dim = 128;
    const x = gaussianSamples(count, dim, 91);
    const shift = Array.from({ length: dim }, (_, i) => (i % 3) * 0.05);
    const shift2 = shift.reduce((s, e) => s + e * e, 0);
    const fid = frechetDistance(featureStats(x, count, dim), featureStats(shifted(x, count, dim, shift), count, dim));
    expect(fid).to.be.closeTo(shift2, 1e-8 * shift2);
  });

  describe('errors', () => {
    it('rejects mismatched feature dimensions', () => {
      const a = stats(new Array(64).fill(0), identity(64));
      const b = stats(new Array(32).fill(0), identity(32));
      expect(() => frechetDistance(a, b)).to.throw('frechetDistance: feature dimensions differ: 64 vs 32');
    });

    it('rejects stats whose arrays do not match their dim', () => {
      const good = stats([0, 0], identity(2));
      expect(() => frechetDistance(good, { ...good, sigma: identity(3) })).to.throw(
        /second sigma has 9 entries, expected 2x2 = 4/,
      );
      expect(() => frechetDistance({ ...good, mu: Float64Array.from([0]) }, good)).to.throw(/first mu has 1 entries/);
    });

    it('rejects a non-symmetric covariance', () => {
      const bad = stats([0, 0], Float64Array.from([1, 0.5, 0, 1]));
      expect(() => frechetDistance(bad, stats([0, 0], identity(2)))).to.throw(/not symmetric/);
    });

    it('rejects bad feature arrays', () => {
      expect(() => featureStats(new Float64Array(10), 3, 4)).to.throw(/expected count\*dim = 3\*4 = 12 values, got 10/);
      expect(() => featureStats(new Float64Array(4), 1, 4)).to.throw(/at least 2 feature vectors/);
      const x = new Float64Array(12);
      x[7] = NaN;
      expect(() => featureStats(x, 3, 4)).to.throw('featureStats: feature 3 of sample 1 is NaN');
    });
  });
});
