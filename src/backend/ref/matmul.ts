/** Reference batched matrix product: C[b] = op(A[b]) op(B[b]), op = transpose or identity. */
import type { MatmulParams } from '../backend';

export function matmul(a: Float32Array, b: Float32Array, p: MatmulParams): Float32Array {
  const { batch, m, k, n, transA, transB } = p;
  const out = new Float32Array(batch * m * n);
  for (let bi = 0; bi < batch; bi++) {
    const aBase = p.broadcastA ? 0 : bi * m * k;
    const bBase = p.broadcastB ? 0 : bi * k * n;
    const cBase = bi * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          const av = transA ? a[aBase + q * m + i] : a[aBase + i * k + q];
          const bv = transB ? b[bBase + j * k + q] : b[bBase + q * n + j];
          s += av * bv;
        }
        out[cBase + i * n + j] = s;
      }
    }
  }
  return out;
}
