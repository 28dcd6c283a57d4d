/**
 * PNG files in and out, on plain Float32Array images in [C, H, W] order (the layout the
 * models and the DataLoader use), with pngjs's synchronous API.
 *
 * Writing maps a value range (by default [-1, 1], what a DDPM samples) linearly onto the
 * bytes 0..255 and clamps what falls outside: samples of a half-trained model overshoot,
 * and clamping shows them as saturated pixels instead of wrapping around. One channel is
 * written as a grayscale PNG, three as RGB. Reading gives values in [0, 1] as b/255, the
 * same convention as the dataset readers, so an 8-bit image written and read back
 * comes back exactly.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';

/** [low, high]: the values that map to black (0) and white (255). */
export type ValueRange = readonly [number, number];

export interface PlainImage {
  /** c*h*w values, [C, H, W] */
  data: Float32Array;
  c: number;
  h: number;
  w: number;
}

function checkShape(where: string, length: number, n: number, c: number, h: number, w: number): void {
  for (const [name, v] of [['c', c], ['h', h], ['w', w], ['n', n]] as const) {
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`${where}: ${name} must be a positive integer, got ${v}`);
  }
  if (length !== n * c * h * w) {
    throw new Error(`${where}: expected ${n > 1 ? `${n}x` : ''}${c}x${h}x${w} = ${n * c * h * w} values, got ${length}`);
  }
}

function ensureParentDir(file: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
}

/**
 * Writes 8-bit pixel bytes, interleaved as PNG stores them ([H, W, C]: gray, or R,G,B per
 * pixel), to a PNG file. The plotting code draws into such a byte canvas directly.
 */
export function writePngBytes(file: string, bytes: Uint8Array, channels: 1 | 3, height: number, width: number): void {
  if (channels !== 1 && channels !== 3) throw new Error(`writePngBytes(${file}): channels must be 1 (gray) or 3 (RGB), got ${channels}`);
  checkShape(`writePngBytes(${file})`, bytes.length, 1, channels, height, width);
  // colorType 0 = grayscale, 2 = RGB. Saying the input has the same type and no alpha
  // makes pngjs take the bytes as they are instead of converting from RGBA.
  const colorType = channels === 1 ? 0 : 2;
  const png = new PNG({ width, height });
  png.data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const encoded = PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false, bitDepth: 8 });
  ensureParentDir(file);
  fs.writeFileSync(file, encoded);
}

/**
 * One value to one byte: (v - low) / (high - low) * 255, rounded, clamped to 0..255.
 * NaN becomes 0 (black), so a diverged sample still gives a readable file.
 */
export function valueToByte(v: number, range: ValueRange): number {
  const t = (v - range[0]) / (range[1] - range[0]);
  if (!(t > 0)) return 0; // also catches NaN
  if (t >= 1) return 255;
  return Math.round(t * 255);
}

/** [C, H, W] floats to interleaved [H, W, C] bytes. */
export function imageToPngBytes(data: Float32Array, c: number, h: number, w: number, range: ValueRange = [-1, 1]): Uint8Array {
  checkShape('imageToPngBytes', data.length, 1, c, h, w);
  if (!(range[1] > range[0])) throw new Error(`imageToPngBytes: range [${range[0]}, ${range[1]}] must have low < high`);
  const out = new Uint8Array(h * w * c);
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < h * w; i++) out[i * c + ch] = valueToByte(data[ch * h * w + i], range);
  }
  return out;
}

/** Writes one [C, H, W] image (C = 1 or 3) as a PNG; values outside `range` are clamped. */
export function writeImagePng(file: string, data: Float32Array, c: number, h: number, w: number, range: ValueRange = [-1, 1]): void {
  if (c !== 1 && c !== 3) throw new Error(`writeImagePng(${file}): c must be 1 (gray) or 3 (RGB), got ${c}`);
  writePngBytes(file, imageToPngBytes(data, c, h, w, range), c, h, w);
}

/**
 * Reads a PNG into [C, H, W] values in [0, 1]. Gray PNGs (with or without alpha) give
 * C = 1, color and palette PNGs C = 3. An alpha channel is dropped (not composited):
 * our own files never have one. 16-bit files are reduced to 8 bits by pngjs.
 */
export function readImagePng(file: string): PlainImage {
  if (!fs.existsSync(file)) throw new Error(`PNG file not found: ${file}`);
  let png;
  try {
    png = PNG.sync.read(fs.readFileSync(file));
  } catch (err) {
    throw new Error(`${file} is not a readable PNG: ${(err as Error).message}`);
  }
  const { width: w, height: h } = png;
  const c = png.color ? 3 : 1;
  // pngjs always hands back RGBA bytes, 4 per pixel, gray copied into R, G and B
  const rgba = png.data;
  const data = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < h * w; i++) data[ch * h * w + i] = rgba[i * 4 + ch] / 255;
  }
  return { data, c, h, w };
}

/**
 * Tiles n images [C, H, W] into one picture, `nrow` images per row (as torchvision's
 * make_grid: "nrow" is the number of columns). Every tile has `padding` pixels of
 * `padValue` around it, and the border pixels are shared between neighbours, so the grid is
 * rows*(h+padding)+padding high and cols*(w+padding)+padding wide. Image k goes to row
 * floor(k/nrow), column k%nrow; tiles after the last image stay padValue.
 * padValue is in the images' own units (0 is mid-gray for [-1, 1] images, black for [0, 1]).
 */
export function makeGrid(
  images: Float32Array,
  n: number,
  c: number,
  h: number,
  w: number,
  nrow = 8,
  padding = 2,
  padValue = 0,
): PlainImage {
  checkShape('makeGrid', images.length, n, c, h, w);
  if (!(Number.isInteger(nrow) && nrow > 0)) throw new Error(`makeGrid: nrow must be a positive integer, got ${nrow}`);
  if (!(Number.isInteger(padding) && padding >= 0)) throw new Error(`makeGrid: padding must be a non-negative integer, got ${padding}`);
  const cols = Math.min(nrow, n);
  const rows = Math.ceil(n / nrow);
  const gridH = rows * (h + padding) + padding;
  const gridW = cols * (w + padding) + padding;
  const data = new Float32Array(c * gridH * gridW).fill(padValue);
  for (let k = 0; k < n; k++) {
    const top = padding + Math.floor(k / nrow) * (h + padding);
    const left = padding + (k % nrow) * (w + padding);
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) {
        const src = ((k * c + ch) * h + y) * w;
        const dst = (ch * gridH + top + y) * gridW + left;
        data.set(images.subarray(src, src + w), dst);
      }
    }
  }
  return { data, c, h: gridH, w: gridW };
}

export interface GridPngOptions {
  /** images per row (default 8) */
  nrow?: number;
  /** pixels between and around tiles (default 2) */
  padding?: number;
  /** value of the padding, in image units; default the middle of `range` (gray), which stands out on black and on white backgrounds */
  padValue?: number;
  /** value range mapped to 0..255 (default [-1, 1]) */
  range?: ValueRange;
}

/** makeGrid then writeImagePng; returns the grid it wrote. */
export function writeGridPng(file: string, images: Float32Array, n: number, c: number, h: number, w: number, opts: GridPngOptions = {}): PlainImage {
  const range = opts.range ?? [-1, 1];
  const padValue = opts.padValue ?? (range[0] + range[1]) / 2;
  const grid = makeGrid(images, n, c, h, w, opts.nrow ?? 8, opts.padding ?? 2, padValue);
  writeImagePng(file, grid.data, grid.c, grid.h, grid.w, range);
  return grid;
}
