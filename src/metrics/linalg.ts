/**
 * Small dense linear algebra for the FID metric, in plain TypeScript.
 *
 * Everything here works on row-major Float64Array matrices whose sizes are passed
 * explicitly: entry (i, j) of an n x m matrix lives at index i * m + j. It does not use
 * the tensor library on purpose: a metric that judges the model should not share code
 * (and therefore bugs) with the model it judges.
 *
 * The centrepiece is `symmetricEigen`, the cyclic Jacobi eigenvalue method
 * (Jacobi 1846; Golub & Van Loan, "Matrix Computations", 4th ed., section 8.5;
 * Press et al., "Numerical Recipes", 3rd ed., section 11.1). Jacobi is not the fastest
 * symmetric eigensolver (Householder tridiagonalisation + QL/QR is several times
 * faster), but every step is a 2 x 2 rotation you can check by hand, and on positive
 * definite matrices it computes even the small eigenvalues to high relative accuracy
 * (Demmel & Veselic 1992). For the sizes FID needs here
 * (feature dimensions up to a few hundred) it is fast enough.
 */

/** Result of a symmetric eigendecomposition A = V diag(values) V^T. */
export interface SymmetricEigen {
  /** eigenvalues, sorted ascending (the same order as numpy.linalg.eigh) */
  values: Float64Array;
  /** n x n row-major; column j (entries j, n + j, 2n + j, ...) is the unit eigenvector of values[j] */
  vectors: Float64Array;
  /** how many full Jacobi sweeps were done */
  sweeps: number;
}

export interface JacobiOptions {
  /**
   * Stop when off(A) <= tol * ||A||_F, where off(A) is the Frobenius norm of the
   * off-diagonal part. Default 1e-13.
   */
  tol?: number;
  /** Give up (throw) after this many sweeps. Default 60; 6 to 10 is typical (9-10 at n = 256). */
  maxSweeps?: number;
  /**
   * The input counts as symmetric when |a_ij - a_ji| <= symmetryTol * max|a_kl|.
   * Default 1e-9: loose enough for rounding noise from a product like B S B, tight
   * enough to catch a matrix that was never meant to be symmetric.
   */
  symmetryTol?: number;
}

function checkSquare(name: string, a: ArrayLike<number>, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: n must be a non-negative integer, got ${n}`);
  if (a.length !== n * n) {
    throw new Error(`${name}: expected an ${n}x${n} matrix (${n * n} entries), got ${a.length} entries`);
  }
}

/**
 * C = A B for A of shape n x k and B of shape k x m (both row-major). With only n
 * given, all three are n x n.
 *
 * The loops run i, l, j so the innermost loop walks rows of B and C contiguously,
 * which is several times faster in JavaScript than the textbook i, j, l order.
 */
export function matmul(a: Float64Array, b: Float64Array, n: number, k: number = n, m: number = n): Float64Array {
  if (a.length !== n * k) throw new Error(`matmul: A should be ${n}x${k} (${n * k} entries), got ${a.length}`);
  if (b.length !== k * m) throw new Error(`matmul: B should be ${k}x${m} (${k * m} entries), got ${b.length}`);
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    const cRow = i * m;
    for (let l = 0; l < k; l++) {
      const ail = a[i * k + l];
      if (ail === 0) continue;
      const bRow = l * m;
      for (let j = 0; j < m; j++) c[cRow + j] += ail * b[bRow + j];
    }
  }
  return c;
}

/** A^T for A of shape rows x cols (square when cols is left out). */
export function transpose(a: Float64Array, rows: number, cols: number = rows): Float64Array {
  if (a.length !== rows * cols) {
    throw new Error(`transpose: expected ${rows}x${cols} (${rows * cols} entries), got ${a.length}`);
  }
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

/** Sum of the diagonal of an n x n matrix. */
export function trace(a: Float64Array, n: number): number {
  checkSquare('trace', a, n);
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i * n + i];
  return s;
}

function checkFeatures(name: string, features: ArrayLike<number>, count: number, dim: number): void {
  if (!Number.isInteger(count) || count < 0) throw new Error(`${name}: count must be a non-negative integer, got ${count}`);
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`${name}: dim must be a positive integer, got ${dim}`);
  if (features.length !== count * dim) {
    throw new Error(`${name}: expected count*dim = ${count}*${dim} = ${count * dim} values, got ${features.length}`);
  }
}

/**
 * Column means of a count x dim matrix of samples (one sample per row):
 * mu_j = (1/N) sum_i x_ij. Accumulates in float64 even for Float32Array input.
 */
export function mean(features: Float64Array | Float32Array, count: number, dim: number): Float64Array {
  checkFeatures('mean', features, count, dim);
  if (count < 1) throw new Error('mean: need at least 1 sample, got 0');
  const mu = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    const row = i * dim;
    for (let j = 0; j < dim; j++) mu[j] += features[row + j];
  }
  for (let j = 0; j < dim; j++) mu[j] /= count;
  return mu;
}

/**
 * Unbiased sample covariance of a count x dim matrix of samples (one sample per row),
 * like numpy.cov(x, rowvar=False):
 *
 *   S_jk = 1/(N-1) * sum_i (x_ij - mu_j)(x_ik - mu_k)
 *
 * Dividing by N-1 rather than N (Bessel's correction) makes E[S] equal the true
 * covariance, because mu is itself estimated from the same samples.
 *
 * Two passes: first the mean, then the centred products. The one-pass shortcut
 * (sum x x^T)/N - mu mu^T subtracts two large, nearly equal numbers when the mean is
 * large compared with the spread, and loses most of its digits.
 */
export function covariance(features: Float64Array | Float32Array, count: number, dim: number): Float64Array {
  checkFeatures('covariance', features, count, dim);
  if (count < 2) throw new Error(`covariance: need at least 2 samples (it divides by N-1), got ${count}`);
  const mu = mean(features, count, dim);
  const cov = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    const row = i * dim;
    for (let j = 0; j < dim; j++) centred[j] = features[row + j] - mu[j];
    // Rank-one update S += d d^T, upper triangle only (S is symmetric).
    for (let j = 0; j < dim; j++) {
      const dj = centred[j];
      if (dj === 0) continue;
      const sRow = j * dim;
      for (let k = j; k < dim; k++) cov[sRow + k] += dj * centred[k];
    }
  }
  const scale = 1 / (count - 1);
  for (let j = 0; j < dim; j++) {
    for (let k = j; k < dim; k++) {
      const v = cov[j * dim + k] * scale;
      cov[j * dim + k] = v;
      cov[k * dim + j] = v; // mirror, so the result is exactly symmetric
    }
  }
  return cov;
}

/**
 * Checks that A is finite and symmetric, and returns a symmetrised copy (a_ij + a_ji)/2,
 * which the Jacobi iteration overwrites. Averaging removes the last-bit asymmetry
 * that rounding leaves in products such as B S B.
 */
function symmetricCopy(name: string, a: Float64Array, n: number, symmetryTol: number): Float64Array {
  checkSquare(name, a, n);
  let maxAbs = 0;
  for (let idx = 0; idx < n * n; idx++) {
    const v = a[idx];
    if (!Number.isFinite(v)) {
      const i = Math.floor(idx / n);
      throw new Error(`${name}: matrix entry (${i}, ${idx - i * n}) is ${v}; the matrix must be finite`);
    }
    maxAbs = Math.max(maxAbs, Math.abs(v));
  }
  const w = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    w[i * n + i] = a[i * n + i];
    for (let j = i + 1; j < n; j++) {
      const aij = a[i * n + j];
      const aji = a[j * n + i];
      if (Math.abs(aij - aji) > symmetryTol * maxAbs) {
        throw new Error(
          `${name}: matrix is not symmetric: entry (${i}, ${j}) = ${aij} but (${j}, ${i}) = ${aji} ` +
            `(tolerance ${symmetryTol} * max|a| = ${symmetryTol * maxAbs})`,
        );
      }
      const avg = 0.5 * (aij + aji);
      w[i * n + j] = avg;
      w[j * n + i] = avg;
    }
  }
  return w;
}

/**
 * The cyclic Jacobi method. Works on `w` (a symmetric n x n matrix, overwritten) and
 * accumulates the rotations into `vt` (which should start as I). `vt` holds V
 * transposed, row j = eigenvector j, for speed (see rotateRows). Returns the number of
 * sweeps done; the eigenvalues are left on the diagonal of w.
 *
 * Idea: repeatedly pick an off-diagonal pair (p, q) and apply a plane rotation
 * J = J(p, q, theta), A <- J^T A J, with theta chosen so that the new a_pq is 0. The
 * rotation is orthogonal, so it keeps the eigenvalues and the Frobenius norm, and it
 * moves exactly 2 a_pq^2 of "weight" from the off-diagonal to the diagonal:
 * off(A')^2 = off(A)^2 - 2 a_pq^2. A later rotation can make a zeroed entry nonzero
 * again, but off(A) only ever shrinks, and sweeping cyclically over all pairs converges,
 * quadratically once off(A) is small (Golub & Van Loan section 8.5 has the proofs and
 * references). In practice 6 to 10 sweeps reach rounding level.
 */
function jacobiSweeps(w: Float64Array, n: number, vt: Float64Array, tol: number, maxSweeps: number, name: string): number {
  // ||A||_F does not change under rotations, so it is the fixed yardstick for "small".
  let frob2 = 0;
  for (let idx = 0; idx < n * n; idx++) frob2 += w[idx] * w[idx];
  const frob = Math.sqrt(frob2);
  if (frob === 0) return 0; // the zero matrix is already diagonal

  // A single a_pq below this cannot matter: even if all n(n-1) off-diagonal entries
  // were this large, off(A) = sqrt(n(n-1)) * skip < tol * ||A||_F. Skipping them
  // saves time in the last sweep and avoids rotations by angles lost in rounding.
  const skip = (tol * frob) / n;

  for (let sweep = 0; ; sweep++) {
    let off2 = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off2 += 2 * w[i * n + j] * w[i * n + j];
    if (Math.sqrt(off2) <= tol * frob) return sweep;
    if (sweep >= maxSweeps) {
      throw new Error(
        `${name}: Jacobi did not converge in ${maxSweeps} sweeps ` +
          `(off-diagonal norm ${Math.sqrt(off2)}, target ${tol * frob})`,
      );
    }

    // One sweep: every pair (p, q) with p < q, in row order ("cyclic-by-row").
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = w[p * n + q];
        if (Math.abs(apq) <= skip) continue;
        const app = w[p * n + p];
        const aqq = w[q * n + q];

        // The 2 x 2 symmetric Schur decomposition (Golub & Van Loan, Alg. 8.5.1):
        // with tau = (a_qq - a_pp) / (2 a_pq), the rotation tangent t = tan(theta)
        // solves t^2 + 2 tau t - 1 = 0. Take the smaller root,
        //   t = sign(tau) / (|tau| + sqrt(1 + tau^2)),
        // so |theta| <= pi/4: the rotation disturbs the rest of A as little as
        // possible, which the convergence analysis relies on.
        // Math.hypot(1, tau) is sqrt(1 + tau^2) without overflow for huge tau.
        const tau = (aqq - app) / (2 * apq);
        const t = (tau >= 0 ? 1 : -1) / (Math.abs(tau) + Math.hypot(1, tau));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;

        // A <- J^T A J, where J is I except J_pp = J_qq = c, J_pq = s, J_qp = -s.
        // Only rows/columns p and q change. The 2 x 2 block becomes diagonal:
        //   a_pp' = a_pp - t a_pq,  a_qq' = a_qq + t a_pq,  a_pq' = 0
        // (Numerical Recipes section 11.1); the rest is in rotateSymmetric.
        w[p * n + p] = app - t * apq;
        w[q * n + q] = aqq + t * apq;
        w[p * n + q] = 0;
        w[q * n + p] = 0;
        rotateSymmetric(w, n, p, q, c, s);

        // V <- V J: the columns of V are the eigenvector estimates.
        rotateRows(vt, n, p, q, c, s);
      }
    }
  }
}

/**
 * The off-block part of A <- J^T A J: for every r other than p and q,
 *   a_rp' = c a_rp - s a_rq,  a_rq' = s a_rp + c a_rq,
 * written to both (r, p) and (p, r) (and likewise for q) so A stays exactly symmetric.
 * This loop is where Jacobi spends its time. (Reading a_pr, a_qr from the contiguous
 * rows p, q instead of the columns looks like it should be faster, but measured about
 * twice as slow in V8 at n = 256; updating only the upper triangle, as Numerical
 * Recipes does, saves only ~10% and needs three loops.)
 */
function rotateSymmetric(w: Float64Array, n: number, p: number, q: number, c: number, s: number): void {
  for (let r = 0; r < n; r++) {
    if (r === p || r === q) continue;
    const arp = w[r * n + p];
    const arq = w[r * n + q];
    const newRp = c * arp - s * arq;
    const newRq = s * arp + c * arq;
    w[r * n + p] = newRp;
    w[p * n + r] = newRp;
    w[r * n + q] = newRq;
    w[q * n + r] = newRq;
  }
}

/**
 * V <- V J for V stored transposed (vt = V^T): columns p and q of V are rows p and q
 * of vt, so this walks contiguous memory. (Walking two columns of a row-major V made
 * the whole solver about twice as slow at n = 256.)
 *   v_rp' = c v_rp - s v_rq,  v_rq' = s v_rp + c v_rq
 */
function rotateRows(vt: Float64Array, n: number, p: number, q: number, c: number, s: number): void {
  const rowP = p * n;
  const rowQ = q * n;
  for (let r = 0; r < n; r++) {
    const vrp = vt[rowP + r];
    const vrq = vt[rowQ + r];
    vt[rowP + r] = c * vrp - s * vrq;
    vt[rowQ + r] = s * vrp + c * vrq;
  }
}

/**
 * Eigendecomposition A = V diag(values) V^T of a real symmetric n x n matrix, by the
 * cyclic Jacobi method. Eigenvalues come back sorted ascending, eigenvectors as the
 * columns of V (orthonormal). Throws if A has a NaN/Infinity, is not symmetric within
 * `symmetryTol`, or (practically never) does not converge within `maxSweeps`.
 */
export function symmetricEigen(a: Float64Array, n: number, options: JacobiOptions = {}): SymmetricEigen {
  const { tol = 1e-13, maxSweeps = 60, symmetryTol = 1e-9 } = options;
  const w = symmetricCopy('symmetricEigen', a, n, symmetryTol);
  const vt = new Float64Array(n * n); // V^T, starts as the identity
  for (let i = 0; i < n; i++) vt[i * n + i] = 1;
  const sweeps = jacobiSweeps(w, n, vt, tol, maxSweeps, 'symmetricEigen');

  // Sort ascending, moving each eigenvector column along with its eigenvalue.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => w[i * n + i] - w[j * n + j]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let col = 0; col < n; col++) {
    const src = order[col];
    values[col] = w[src * n + src];
    for (let r = 0; r < n; r++) vectors[r * n + col] = vt[src * n + r];
  }
  return { values, vectors, sweeps };
}

/**
 * The principal square root of a symmetric positive semi-definite matrix: the unique
 * symmetric PSD B with B B = A.
 *
 * With A = V diag(lambda) V^T, B = V diag(sqrt(lambda)) V^T, since then
 * B B = V diag(sqrt(lambda)) V^T V diag(sqrt(lambda)) V^T = V diag(lambda) V^T = A
 * (V^T V = I). A PSD matrix has lambda >= 0, but rounding can leave eigenvalues of
 * order -1e-16 * max|lambda| on a singular one, so we use sqrt(max(lambda, 0)).
 * (A genuinely indefinite input is not caught here: its negative part is dropped.)
 */
export function sqrtmPsd(a: Float64Array, n: number, options: JacobiOptions = {}): Float64Array {
  const { values, vectors } = symmetricEigen(a, n, options);
  const root = new Float64Array(values.length);
  for (let k = 0; k < n; k++) root[k] = Math.sqrt(Math.max(values[k], 0));
  // B_ij = sum_k V_ik sqrt(lambda_k) V_jk: rows i and j of V are contiguous in memory.
  const b = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += vectors[i * n + k] * root[k] * vectors[j * n + k];
      b[i * n + j] = sum;
      b[j * n + i] = sum;
    }
  }
  return b;
}
