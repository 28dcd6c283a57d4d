/**
 * Reference 2-D convolution and its two gradients, written as the sums that define them.
 *
 *   y[n, co, oy, ox] = sum_{ci, ky, kx} x[n, ci, oy*sH - pH + ky, ox*sW - pW + kx] * w[co, ci, ky, kx]
 *
 * (x read as 0 outside the image). The gradients follow by the chain rule:
 *   dx[n, ci, iy, ix] = sum over every (co, oy, ox, ky, kx) with oy*sH - pH + ky = iy, ... of dy * w
 *   dw[co, ci, ky, kx] = sum_{n, oy, ox} x[n, ci, oy*sH - pH + ky, ...] * dy[n, co, oy, ox]
 */
import type { Conv2dParams, Pad2dParams, PoolParams, UpsampleParams } from '../backend';

export function conv2d(x: Float32Array, w: Float32Array, p: Conv2dParams, bias?: Float32Array): Float32Array {
  const { n, cin, h, w: W, cout, kh, kw, strideH, strideW, padH, padW, oh, ow } = p;
  const y = new Float32Array(n * cout * oh * ow);
  for (let b = 0; b < n; b++)
    for (let co = 0; co < cout; co++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          let s = 0;
          for (let ci = 0; ci < cin; ci++)
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * strideH - padH + ky;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * strideW - padW + kx;
                if (ix < 0 || ix >= W) continue;
                s += x[((b * cin + ci) * h + iy) * W + ix] * w[((co * cin + ci) * kh + ky) * kw + kx];
              }
            }
          y[((b * cout + co) * oh + oy) * ow + ox] = bias ? s + bias[co] : s;
        }
  return y;
}

/** dbias[co] = sum_{n, oy, ox} dy[n, co, oy, ox]: each output of channel co added bias[co] once. */
export function conv2dBackwardBias(gy: Float32Array, p: Conv2dParams): Float32Array {
  const { n, cout, oh, ow } = p;
  const db = new Float32Array(cout);
  for (let co = 0; co < cout; co++) {
    let s = 0;
    for (let b = 0; b < n; b++) for (let i = 0; i < oh * ow; i++) s += gy[(b * cout + co) * oh * ow + i];
    db[co] = s;
  }
  return db;
}

export function conv2dBackwardInput(gy: Float32Array, w: Float32Array, p: Conv2dParams): Float32Array {
  const { n, cin, h, w: W, cout, kh, kw, strideH, strideW, padH, padW, oh, ow } = p;
  // BEGIN SOLUTION 6
  const dx = new Float32Array(n * cin * h * W);
  // scatter each output gradient back to the inputs it read: the transpose of conv2d
  for (let b = 0; b < n; b++)
    for (let co = 0; co < cout; co++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          const g = gy[((b * cout + co) * oh + oy) * ow + ox];
          for (let ci = 0; ci < cin; ci++)
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * strideH - padH + ky;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * strideW - padW + kx;
                if (ix < 0 || ix >= W) continue;
                dx[((b * cin + ci) * h + iy) * W + ix] += g * w[((co * cin + ci) * kh + ky) * kw + kx];
              }
            }
        }
  return dx;
  // END SOLUTION 6
}

export function conv2dBackwardWeight(x: Float32Array, gy: Float32Array, p: Conv2dParams): Float32Array {
  const { n, cin, h, w: W, cout, kh, kw, strideH, strideW, padH, padW, oh, ow } = p;
  // BEGIN SOLUTION 6
  const dw = new Float32Array(cout * cin * kh * kw);
  for (let co = 0; co < cout; co++)
    for (let ci = 0; ci < cin; ci++)
      for (let ky = 0; ky < kh; ky++)
        for (let kx = 0; kx < kw; kx++) {
          let s = 0;
          for (let b = 0; b < n; b++)
            for (let oy = 0; oy < oh; oy++) {
              const iy = oy * strideH - padH + ky;
              if (iy < 0 || iy >= h) continue;
              for (let ox = 0; ox < ow; ox++) {
                const ix = ox * strideW - padW + kx;
                if (ix < 0 || ix >= W) continue;
                s += x[((b * cin + ci) * h + iy) * W + ix] * gy[((b * cout + co) * oh + oy) * ow + ox];
              }
            }
          dw[((co * cin + ci) * kh + ky) * kw + kx] = s;
        }
  return dw;
  // END SOLUTION 6
}

export function upsampleNearest2d(x: Float32Array, p: UpsampleParams): Float32Array {
  const { n, c, h, w, scaleH, scaleW, outH, outW } = p;
  const out = new Float32Array(n * c * outH * outW);
  for (let nc = 0; nc < n * c; nc++)
    for (let i = 0; i < outH; i++) {
      const sy = Math.floor(i / scaleH);
      if (sy >= h) continue;
      for (let j = 0; j < outW; j++) {
        const sx = Math.floor(j / scaleW);
        if (sx < w) out[(nc * outH + i) * outW + j] = x[(nc * h + sy) * w + sx];
      }
    }
  return out;
}

export function sumPool2d(x: Float32Array, p: PoolParams): Float32Array {
  const { n, c, h, w, kh, kw } = p;
  const oh = Math.floor(h / kh);
  const ow = Math.floor(w / kw);
  const out = new Float32Array(n * c * oh * ow);
  for (let nc = 0; nc < n * c; nc++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        let s = 0;
        for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) s += x[(nc * h + i * kh + a) * w + j * kw + b];
        out[(nc * oh + i) * ow + j] = s;
      }
  return out;
}

/** out[pl, top + y, left + x] = x[pl, y, x]; every other element 0. */
export function pad2d(x: Float32Array, p: Pad2dParams): Float32Array {
  const { planes, h, w, top, left, outH, outW } = p;
  const out = new Float32Array(planes * outH * outW);
  for (let pl = 0; pl < planes; pl++)
    for (let y = 0; y < h; y++)
      for (let xi = 0; xi < w; xi++) out[(pl * outH + top + y) * outW + left + xi] = x[(pl * h + y) * w + xi];
  return out;
}
