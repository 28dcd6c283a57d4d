/**
 * Register tiles of 4 rows. matmul and conv2d compute 4 output rows per thread and return
 * them as one `Array(4)` value: on webasm the 4 rows share every read of the other operand
 * (one 4-lane gather feeds 16 multiply-adds instead of 4), and on a GPU one texel holds all 4.
 *
 * A tiled result has cells [z][yb][x], each holding rows 4*yb + r, r = 0..3, so its memory is
 * [z][yb][x][r]. untile4 lays it out row-major as [z][y][x], y = 4*yb + r, keeping y < rows
 * (the last tile of a row count that 4 does not divide repeats the last row; it is dropped).
 */
import type { KernelSpec, KernelThis } from './kernel';

export interface TileGrid {
  /** cells per row (thread.x) */
  x: number;
  /** row tiles, ceil(rows / 4) (thread.y) */
  yb: number;
  /** batch (thread.z) */
  z: number;
  /** true row count, <= 4 * yb */
  rows: number;
  /** padded row grid (kernel.ts tile4): real cells per grid row, and grid row length; absent = x, x */
  width?: number;
  pitch?: number;
}

/** Real cells per row of the result: x, or the real cells of a padded row grid. */
export function realCells(g: TileGrid): number {
  if (g.width === undefined || g.pitch === undefined) return g.x;
  return ((g.x - g.width) / g.pitch + 1) * g.width;
}

/**
 * GPU version: reads the Array(4) texture cell t[z][yb][x] and picks lane r. The index math on
 * t = ((z * rows) + y) * x + col runs in floats, each division corrected (kernel.ts).
 */
function untile4(this: KernelThis<{ x: number; rows: number; width: number; pitch: number }>, tiles: number[][][][]): number {
  const t = this.thread.x;
  let zy = Math.floor((t + 0.5) / this.constants.x);
  if (t - zy * this.constants.x < 0) {
    zy = zy - 1;
  }
  if (t - zy * this.constants.x >= this.constants.x) {
    zy = zy + 1;
  }
  const real = t - zy * this.constants.x;
  // padded row grid: real cell (row, c) sits at row * pitch + c (width = pitch = x otherwise)
  let row = Math.floor((real + 0.5) / this.constants.width);
  if (real - row * this.constants.width < 0) {
    row = row - 1;
  }
  if (real - row * this.constants.width >= this.constants.width) {
    row = row + 1;
  }
  const col = row * this.constants.pitch + real - row * this.constants.width;
  let z = Math.floor((zy + 0.5) / this.constants.rows);
  if (zy - z * this.constants.rows < 0) {
    z = z - 1;
  }
  if (zy - z * this.constants.rows >= this.constants.rows) {
    z = z + 1;
  }
  const y = zy - z * this.constants.rows;
  const yb = Math.floor((y + 0.5) / 4);
  const r = y - yb * 4;
  const cell = tiles[z][yb][col];
  if (r == 0) {
    return cell[0];
  }
  if (r == 1) {
    return cell[1];
  }
  if (r == 2) {
    return cell[2];
  }
  return cell[3];
}

export function untile4Spec(g: TileGrid): KernelSpec {
  const x = realCells(g);
  return { name: 'untile4', source: untile4, output: [g.z * g.rows * x], constants: { x, rows: g.rows, width: g.width ?? g.x, pitch: g.pitch ?? g.x } };
}

/** CPU version (webasm and cpu modes, where the tiles already are a host array [z][yb][x][4]). */
/**
 * The result rows both host layouts fill: for each kept row (z, y < rows), its real cells as
 * `gridRows` runs of `width` (one run when the grid has no padding columns); copyRun(out, dst,
 * z, y, row) writes run `row` of that row at out[dst..dst + width).
 */
function keptRows(g: TileGrid, copyRun: (out: Float32Array, dst: number, z: number, y: number, row: number, width: number, pitch: number) => void): Float32Array {
  const real = realCells(g);
  const out = new Float32Array(g.z * g.rows * real);
  const width = g.width ?? g.x;
  const pitch = g.pitch ?? g.x;
  const gridRows = real / width;
  for (let z = 0; z < g.z; z++)
    for (let y = 0; y < g.rows; y++)
      for (let row = 0, dst = (z * g.rows + y) * real; row < gridRows; row++, dst += width) copyRun(out, dst, z, y, row, width, pitch);
  return out;
}

/**
 * Host version for tiles stored row-major, [z][4 yb + r][x] (the webasm code-generator patch,
 * K): keeps rows y < rows and the real cells of each row; no copy at all when that is
 * everything (4 divides rows, no padded row grid).
 */
export function untile4RowMajor(rowsMajor: Float32Array, g: TileGrid): Float32Array {
  if (g.rows === 4 * g.yb && realCells(g) === g.x) return rowsMajor;
  return keptRows(g, (out, dst, z, y, row, width, pitch) => {
    const s = (z * g.yb * 4 + y) * g.x + row * pitch;
    // short runs (an image row): a loop beats subarray + set
    for (let col = 0; col < width; col++) out[dst + col] = rowsMajor[s + col];
  });
}

export function untile4Host(tiles: Float32Array, g: TileGrid): Float32Array {
  return keptRows(g, (out, dst, z, y, row, width, pitch) => {
    const s = (z * g.yb + (y >> 2)) * g.x * 4 + (y & 3) + row * pitch * 4;
    for (let col = 0; col < width; col++) out[dst + col] = tiles[s + col * 4];
  });
}
