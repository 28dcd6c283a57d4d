/**
 * What the tests of whole training runs share: a tiny dataset that trains in seconds on the
 * reference backend, a temporary folder, and a way to run a command with its progress text
 * captured instead of printed.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import type { ImageDataset } from '../../src/data/dataset';
import { readSafetensors } from '../../src/checkpoint/safetensors';

/** A fresh temporary folder, named after the test file that asks. */
export const tmpDir = (what: string) => fs.mkdtempSync(path.join(os.tmpdir(), `tiny-ddpm-${what}-`));

/** 32 images of 1x8x8, two classes: a bright square (class 0) or a bright bar (class 1), at different places; values in [0, 1]. */
export function shapes(): ImageDataset {
  const n = 32;
  const images = new Float32Array(n * 64);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
  for (let i = 0; i < n; i++) {
    const r = (i >> 1) % 5;
    const c = (i * 3) % 5;
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++) {
        const on = labels[i] === 0 ? y >= r && y < r + 3 && x >= c && x < c + 3 : y === r + 1 && x >= 1 && x < 7;
        images[i * 64 + y * 8 + x] = on ? 1 : 0;
      }
  }
  return { name: 'shapes', images, labels, n, channels: 1, height: 8, width: 8, numClasses: 2 };
}

export async function quietly<T>(fn: () => Promise<T>): Promise<{ value: T; err: string }> {
  const chunks: string[] = [];
  const orig = process.stderr.write.bind(process.stderr);
  (process.stderr as unknown as { write: unknown }).write = (s: string) => (chunks.push(String(s)), true);
  try {
    return { value: await fn(), err: chunks.join('') };
  } finally {
    (process.stderr as unknown as { write: unknown }).write = orig;
  }
}

/**
 * A run's exact resume: trains once straight, once stopped after `stopAt` steps and resumed,
 * each in a fresh folder, and checks that every checkpoint tensor whose name `names` matches is
 * the same bit for bit. Returns the two folders.
 */
export async function expectExactResume(
  run: (over: { outDir: string; resume?: boolean }, hooks?: { shouldStop?: () => boolean }) => Promise<unknown>,
  stopAt: number,
  names: RegExp,
  what: string,
): Promise<{ straight: string; split: string }> {
  const straight = tmpDir(what);
  await quietly(() => run({ outDir: straight }));
  const split = tmpDir(what);
  let calls = 0;
  await quietly(() => run({ outDir: split }, { shouldStop: () => ++calls === stopAt }));
  await quietly(() => run({ outDir: split, resume: true }));
  const a = readSafetensors(path.join(straight, 'checkpoint.safetensors')).tensors;
  const b = readSafetensors(path.join(split, 'checkpoint.safetensors')).tensors;
  const compared = Object.keys(a).filter((n) => names.test(n));
  expect(compared.length).to.be.above(10);
  for (const n of compared) expect(Buffer.from(b[n].data.buffer).equals(Buffer.from(a[n].data.buffer)), n).to.equal(true);
  return { straight, split };
}
