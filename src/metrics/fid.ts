/**
 * The Fréchet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale
 * Update Rule Converge to a Local Nash Equilibrium"), the math part only.
 *
 * FID compares two sets of images through features from some fixed network (Inception
 * in the paper; here any feature extractor). It fits a Gaussian N(mu, Sigma) to each
 * set of feature vectors and reports the Fréchet (= 2-Wasserstein) distance between the
 * two Gaussians, squared (Dowson & Landau 1982; Olkin & Pukelsheim 1982):
 *
 *   d^2 = |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2})
 *
 * Lower is better; 0 means the two Gaussians are identical. The Gaussian is only a fit:
 * two different distributions with the same mean and covariance have FID 0.
 *
 * Scores are only comparable when computed with the same feature extractor, feature
 * dimension and (because the estimate is biased) the same number of samples.
 */
import { covariance, mean, sqrtmPsd, matmul, symmetricEigen, trace } from './linalg';

/** The Gaussian fitted to a set of feature vectors. */
export interface FeatureStats {
  /** mean feature vector, length dim */
  mu: Float64Array;
  /** unbiased (N-1) covariance, dim x dim row-major */
  sigma: Float64Array;
  /** how many feature vectors the statistics came from */
  count: number;
  /** feature dimension */
  dim: number;
}

/**
 * Mean and covariance of `count` feature vectors of length `dim`, stored one per row
 * (row-major count x dim). Float32 features are accumulated in float64.
 */
export function featureStats(features: Float64Array | Float32Array, count: number, dim: number): FeatureStats {
  if (!Number.isInteger(count) || count < 2) {
    throw new Error(`featureStats: need at least 2 feature vectors for a covariance, got ${count}`);
  }
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`featureStats: dim must be a positive integer, got ${dim}`);
  if (features.length !== count * dim) {
    throw new Error(
      `featureStats: expected count*dim = ${count}*${dim} = ${count * dim} values, got ${features.length}`,
    );
  }
  // A NaN here usually means the model (or the feature network) diverged; say where,
  // instead of letting it surface later as "matrix entry is NaN" inside the eigensolver.
  for (let idx = 0; idx < features.length; idx++) {
    if (!Number.isFinite(features[idx])) {
      const i = Math.floor(idx / dim);
      throw new Error(`featureStats: feature ${idx - i * dim} of sample ${i} is ${features[idx]}`);
    }
  }
  return { mu: mean(features, count, dim), sigma: covariance(features, count, dim), count, dim };
}

/**
 * Squared Fréchet distance between N(a.mu, a.sigma) and N(b.mu, b.sigma):
 *
 *   |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1^{1/2} S2 S1^{1/2})^{1/2})
 *
 * Why this equals the textbook Tr((S1 S2)^{1/2}). Let R = S1^{1/2} (symmetric PSD) and
 * M = R S2 R. Then S1 S2 = R (R S2) and M = (R S2) R. For any square X and Y the
 * products XY and YX have the same eigenvalues, with multiplicity, because
 * det(tI - XY) = det(tI - YX) (Horn & Johnson, "Matrix Analysis", 2nd ed., Thm. 1.3.22).
 * So S1 S2 and M share their spectrum. M is symmetric and PSD
 * (x^T M x = (Rx)^T S2 (Rx) >= 0), so those eigenvalues are real and >= 0, and
 * Tr((S1 S2)^{1/2}) = sum_i sqrt(lambda_i) = Tr(M^{1/2}). (When S1 is invertible,
 * S1 S2 = R M R^{-1} is even similar to M, and (S1 S2)^{1/2} = R M^{1/2} R^{-1}.)
 *
 * Why use it. S1 S2 is not symmetric, so its square root needs a general method (the
 * reference implementation calls scipy.linalg.sqrtm, a complex Schur decomposition,
 * and then throws away small imaginary parts that rounding creates). M is symmetric,
 * so the Jacobi method applies, everything stays real, and rounding cannot produce
 * complex numbers, only eigenvalues like -1e-17, which we clamp to 0. And since only
 * the trace of M^{1/2} is needed, the second square root is just sum sqrt(lambda_i(M)).
 */
export function frechetDistance(a: FeatureStats, b: FeatureStats): number {
  if (a.dim !== b.dim) throw new Error(`frechetDistance: feature dimensions differ: ${a.dim} vs ${b.dim}`);
  const n = a.dim;
  for (const [name, s] of [['first', a], ['second', b]] as const) {
    if (s.mu.length !== n) {
      throw new Error(`frechetDistance: ${name} mu has ${s.mu.length} entries, expected dim = ${n}`);
    }
    if (s.sigma.length !== n * n) {
      throw new Error(`frechetDistance: ${name} sigma has ${s.sigma.length} entries, expected ${n}x${n} = ${n * n}`);
    }
  }

  let meanTerm = 0;
  for (let i = 0; i < n; i++) {
    const d = a.mu[i] - b.mu[i];
    meanTerm += d * d;
  }
  if (!Number.isFinite(meanTerm)) throw new Error(`frechetDistance: the means contain NaN or Infinity`);

  // M = S1^{1/2} S2 S1^{1/2}. In exact arithmetic M is symmetric; the two matmuls
  // leave it asymmetric in the last bits, which symmetricEigen averages away.
  const root1 = sqrtmPsd(a.sigma, n);
  const m = matmul(matmul(root1, b.sigma, n), root1, n);
  const { values } = symmetricEigen(m, n);
  let traceSqrt = 0;
  for (let i = 0; i < n; i++) traceSqrt += Math.sqrt(Math.max(values[i], 0));

  const d2 = meanTerm + trace(a.sigma, n) + trace(b.sigma, n) - 2 * traceSqrt;

  // d^2 is a squared distance, so it is >= 0 for genuine covariance matrices; a negative
  // result is rounding. When S1 ~ S2, the three trace terms cancel almost exactly, and
  // eigenvalues near 0 enter through sqrt, which turns an error of 1e-16 into 1e-8: a
  // rank-deficient covariance (fewer samples than dimensions) can leave about
  // -dim * 1e-8 * |S|. Report such results as 0 rather than a confusing negative FID.
  return Math.max(d2, 0);
}
