/**
 * Reading a folder of generated images (what `tiny-ddpm sample` writes to <out>/images)
 * into one [N, C, H, W] array in [-1, 1], checking every file against the image shape the
 * classifier takes, and naming the file that does not fit.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readImagePng } from '../image/png';

export interface PngFolder {
  /** n*c*h*w values in [-1, 1] */
  images: Float32Array;
  n: number;
  /** the files read, in order */
  files: string[];
  /** how many PNGs the folder holds (more than n when a limit was given) */
  available: number;
}

/** The .png files of a folder in natural order (sample_2 before sample_10). */
export function listPngs(dir: string): string[] {
  if (!fs.existsSync(dir)) throw new Error(`eval: no folder '${dir}'`);
  if (!fs.statSync(dir).isDirectory()) throw new Error(`eval: '${dir}' is a file, not a folder of PNGs`);
  const names = fs.readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.png') && fs.statSync(path.join(dir, f)).isFile());
  if (names.length === 0) throw new Error(`eval: no PNG files in '${dir}'`);
  names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return names.map((f) => path.join(dir, f));
}

/**
 * The first `limit` PNGs of `dir` (all without a limit). Each must be `size` x `size` with
 * `channels` channels; an RGB file whose three channels are equal counts as gray.
 */
export function readPngFolder(dir: string, shape: { channels: number; size: number }, limit?: number): PngFolder {
  const all = listPngs(dir);
  const files = limit === undefined ? all : all.slice(0, limit);
  const { channels: c, size } = shape;
  const per = c * size * size;
  const images = new Float32Array(files.length * per);
  files.forEach((file, i) => {
    let img;
    try {
      img = readImagePng(file);
    } catch (err) {
      throw new Error(`eval: ${(err as Error).message}`);
    }
    let data = img.data;
    if (img.c === 3 && c === 1 && isGrayRgb(data, img.h * img.w)) data = data.subarray(0, img.h * img.w);
    else if (img.c !== c) throw new Error(`eval: ${file} has ${img.c} channel${img.c === 1 ? '' : 's'} (${img.c === 1 ? 'gray' : 'color'}), but the classifier takes ${c} (${c === 1 ? 'gray' : 'RGB'})`);
    if (img.h !== size || img.w !== size) throw new Error(`eval: ${file} is ${img.w}x${img.h} pixels, but the classifier takes ${size}x${size}`);
    for (let j = 0; j < per; j++) images[i * per + j] = data[j] * 2 - 1; // [0, 1] -> [-1, 1]
  });
  return { images, n: files.length, files, available: all.length };
}

/** An RGB image [3, H, W] whose three planes are identical is a gray image stored as RGB. */
function isGrayRgb(data: Float32Array, plane: number): boolean {
  for (let i = 0; i < plane; i++) if (data[i] !== data[plane + i] || data[i] !== data[2 * plane + i]) return false;
  return true;
}
