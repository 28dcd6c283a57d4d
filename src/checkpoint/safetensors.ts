/**
 * The safetensors format (https://github.com/huggingface/safetensors), so that checkpoints
 * open in other tools:
 *
 *   bytes 0..7      N, the header length, an unsigned 64-bit little-endian integer
 *   bytes 8..8+N    the header: UTF-8 JSON, padded with spaces so the data starts at a multiple of 8
 *                     { "__metadata__": { "key": "string value", ... },
 *                       "name": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ... }
 *   bytes 8+N..     the data: each tensor's elements, row-major, float32 little-endian;
 *                   data_offsets count bytes from the start of the data
 *
 * Only F32 is read and written (the only dtype of this library). Reading checks everything a
 * damaged or foreign file could get wrong and says what, naming the file.
 */
import * as fs from 'fs';
import { Tensor, shapeSize } from '../tensor';
import { getBackend } from '../backend/registry';
import { writeFileAtomic } from './atomic';

/** A tensor's values on the host. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsFile {
  /** in the order of their data in the file */
  tensors: Record<string, HostTensor>;
  metadata: Record<string, string>;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Larger headers are refused as damage (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;
// (asked of the typed arrays, not of Node's os module, so this file also runs in a browser)
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** float32 values as little-endian bytes (a copy of the bits: NaN payloads survive). */
function toLittleEndianBytes(data: Float32Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN_HOST) return bytes;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += 4) for (let j = 0; j < 4; j++) out[i + j] = bytes[i + 3 - j];
  return out;
}

function fromLittleEndianBytes(bytes: Uint8Array): Float32Array {
  const out = new Uint8Array(bytes.length); // a fresh, 4-byte-aligned copy
  if (LITTLE_ENDIAN_HOST) out.set(bytes);
  else for (let i = 0; i < bytes.length; i += 4) for (let j = 0; j < 4; j++) out[i + j] = bytes[i + 3 - j];
  return new Float32Array(out.buffer);
}

const asHost = (t: Tensor | HostTensor): (() => HostTensor) =>
  t instanceof Tensor ? () => ({ shape: t.shape, data: t.toArray() }) : () => t;

/**
 * The file as a sequence of byte chunks: the 8-byte length and header first, then one chunk
 * per tensor, read from the device only when its turn comes (so a large model is never
 * copied whole into one buffer).
 */
export function* safetensorsChunks(tensors: Record<string, Tensor | HostTensor>, metadata: Record<string, string> = {}): Generator<Uint8Array> {
  const header: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new Error(`safetensors: metadata values must be strings; '${k}' is ${typeof v}`);
  }
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new Error(`safetensors: '__metadata__' cannot be a tensor name`);
    const bytes = shapeSize(t.shape) * 4;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // padded with spaces so that the data starts 8-byte aligned
  const headerBytes = new Uint8Array(json.length + ((8 - ((8 + json.length) % 8)) % 8)).fill(0x20);
  headerBytes.set(json);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  yield prefix;
  yield headerBytes;
  for (const [name, t] of Object.entries(tensors)) {
    const host = asHost(t)();
    if (host.data.length !== shapeSize(host.shape)) {
      throw new Error(`safetensors: tensor '${name}' has ${host.data.length} values for shape [${host.shape}]`);
    }
    yield toLittleEndianBytes(host.data);
  }
}

/** The whole file in memory (what a browser hands to a download). */
export function serializeSafetensors(tensors: Record<string, Tensor | HostTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const chunks = [...safetensorsChunks(tensors, metadata)];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Write a safetensors file atomically (a failure leaves any previous file intact). */
export function saveSafetensors(file: string, tensors: Record<string, Tensor | HostTensor>, metadata: Record<string, string> = {}): void {
  try {
    writeFileAtomic(file, safetensorsChunks(tensors, metadata));
  } catch (err) {
    throw new Error(`saveSafetensors: could not write '${file}' (any previous file is unchanged): ${(err as Error).message}`);
  }
}

/** Parse and validate the bytes of a safetensors file; `file` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, file = '<buffer>'): SafetensorsFile {
  const bad = (what: string) => new Error(`safetensors: '${file}' ${what}`);
  if (bytes.length < 8) throw bad(`is not a safetensors file: it has ${bytes.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw bad(`is not a safetensors file: its first 8 bytes give a header length of ${n} bytes, which is implausible`);
  const headerLen = Number(n);
  if (8 + headerLen > bytes.length) {
    throw bad(`is truncated or not a safetensors file: the header should be ${headerLen} bytes but only ${bytes.length - 8} follow the length`);
  }
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + headerLen));
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw bad(`is not a safetensors file: its header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('is not a safetensors file: its header is not a JSON object');

  const metadata: Record<string, string> = {};
  const rawMeta = (header as Record<string, unknown>).__metadata__;
  if (rawMeta !== undefined) {
    if (typeof rawMeta !== 'object' || rawMeta === null || Array.isArray(rawMeta)) throw bad('has a __metadata__ that is not an object of strings');
    for (const [k, v] of Object.entries(rawMeta)) {
      if (typeof v !== 'string') throw bad(`has a __metadata__ entry '${k}' that is not a string`);
      metadata[k] = v;
    }
  }

  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const entries: [string, HeaderEntry][] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const e = raw as Partial<HeaderEntry>;
    if (typeof e !== 'object' || e === null) throw bad(`has a header entry '${name}' that is not an object`);
    if (e.dtype !== 'F32') throw bad(`has tensor '${name}' of dtype ${JSON.stringify(e.dtype)}; only F32 is supported`);
    if (!Array.isArray(e.shape) || !e.shape.every((s) => Number.isInteger(s) && s >= 0)) throw bad(`has tensor '${name}' with an invalid shape ${JSON.stringify(e.shape)}`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isInteger(o) && o >= 0) || off[0] > off[1]) {
      throw bad(`has tensor '${name}' with invalid data_offsets ${JSON.stringify(off)}`);
    }
    const need = shapeSize(e.shape) * 4;
    if (off[1] - off[0] !== need) {
      throw bad(`has tensor '${name}' whose data_offsets [${off}] span ${off[1] - off[0]} bytes, but shape [${e.shape}] of F32 needs ${need}`);
    }
    if (off[1] > dataLen) {
      throw bad(`is truncated: tensor '${name}' needs data bytes [${off}] but the file holds only ${dataLen} bytes of data`);
    }
    entries.push([name, e as HeaderEntry]);
  }
  // The tensors must tile the data exactly: no overlaps, no gaps, nothing after the last one.
  entries.sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  let expected = 0;
  for (const [name, e] of entries) {
    if (e.data_offsets[0] !== expected) {
      throw bad(`has inconsistent offsets: tensor '${name}' starts at data byte ${e.data_offsets[0]}, expected ${expected} (overlap or gap)`);
    }
    expected = e.data_offsets[1];
  }
  if (expected !== dataLen) throw bad(`has ${dataLen - expected} bytes after the last tensor's data (damaged file?)`);

  const tensors: Record<string, HostTensor> = {};
  for (const [name, e] of entries) {
    const [b, end] = e.data_offsets;
    tensors[name] = { shape: e.shape.slice(), data: fromLittleEndianBytes(bytes.subarray(dataStart + b, dataStart + end)) };
  }
  return { tensors, metadata };
}

/** Read and validate a safetensors file; the values stay on the host. */
export function readSafetensors(file: string): SafetensorsFile {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new Error(`safetensors: no such file '${file}'`);
    if (e.code === 'EISDIR') throw new Error(`safetensors: '${file}' is a directory, not a file`);
    throw new Error(`safetensors: cannot read '${file}': ${e.message}`);
  }
  return parseSafetensors(bytes, file);
}

/** Read a safetensors file into tensors on the current backend. */
export function loadSafetensors(file: string): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const { tensors, metadata } = readSafetensors(file);
  const backend = getBackend();
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(tensors)) out[name] = Tensor.fromBuf(backend.fromArray(t.data), t.shape, backend);
  return { tensors: out, metadata };
}
