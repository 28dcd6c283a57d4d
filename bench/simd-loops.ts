/**
 * The inner loop of a convolution written four ways in raw WebAssembly SIMD, to see how fast V8
 * runs each shape of loop on this machine, apart from gpu.js (which generates the real kernels):
 *
 *   npx ts-node --transpile-only bench/simd-loops.ts                 # 5 rounds, every shape
 *   npx ts-node --transpile-only bench/simd-loops.ts --rounds 9
 *
 * Each loop step reads one vector of 4 input positions and the weights of 4 output channels,
 * and adds their products into vector sums (the forward convolution's inner step, kernels/conv2d.ts):
 *
 * - `4 sums` is the shape of today's kernels: one vector load, 4 weight splats (v128.load32_splat),
 *   4 fused multiply-adds into the quad's 4 sums, two steps a loop iteration. Each sum waits for
 *   its previous multiply-add, so the loop runs at the multiply-add latency.
 * - `8 sums, splat loads`: the same with the two steps into separate sums (two chains per sum):
 *   V8 loads all 10 values of an iteration before the multiply-adds, and 10 values and 8 sums do
 *   not fit in the 16 vector registers V8 gives WebAssembly, so values go to the stack and back.
 * - `8 sums, lane shuffles`: two chains, each step's 4 weights one vector load and 4 lane
 *   broadcasts (i8x16.shuffle, one vpshufd each), so only 4 values are loaded an iteration.
 * - `8 sums, two quads`: two quads of positions (8 outputs a lane instead of 4) sharing each
 *   weight splat, one step a loop iteration (6 loaded values and 8 sums: 14 registers).
 *
 * The data wraps at 8 KiB (in the L1 cache): this is the arithmetic alone. The rounds run every
 * shape in turn; the medians are printed. One thread.
 */
import { compileOptimizedOnly, fmaAvailable, RELAXED_MADD, uleb as appendUleb } from '../src/backend/gpujs/webasm-codegen-patch';
import { arg } from './args';

const ROUNDS = Number(arg('rounds', '5'));
const ITERATIONS = Number(arg('iterations', '2000000'));

const uleb = (n: number): number[] => {
  const out: number[] = [];
  appendUleb(n, out);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
};
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const name = (s: string) => [s.length, ...[...s].map((c) => c.charCodeAt(0))];
const I32 = 0x7f;
const V128 = 0x7b;
const localGet = (i: number) => [0x20, ...uleb(i)];
const localSet = (i: number) => [0x21, ...uleb(i)];
const i32Const = (v: number) => [0x41, ...sleb(v)];
const v128Load = (offset: number) => [0xfd, 0x00, 4, ...uleb(offset)];
const v128Load32Splat = (offset: number) => [0xfd, 0x09, 2, ...uleb(offset)];
const v128Store = (offset: number) => [0xfd, 0x0b, 4, ...uleb(offset)];
const broadcastLane = (lane: number) => [0xfd, 0x0d, ...Array.from({ length: 16 }, (_, b) => lane * 4 + (b & 3))]; // i8x16.shuffle

const SHAPES = ['4 sums', '8 sums, splat loads', '8 sums, lane shuffles', '8 sums, two quads'] as const;
type Shape = (typeof SHAPES)[number];

/**
 * run(n): n loop iterations of 8 vector multiply-adds each, then the sums stored. Locals: 0 n,
 * 1 input address, 2 weight address, 3-10 the sums, 11-13 loaded values.
 */
function moduleBytes(shape: Shape): Uint8Array {
  const SUM = 3;
  const T = 11;
  const body: number[] = [];
  const madd = (sum: number, operands: number[]) => body.push(...operands, ...localGet(SUM + sum), ...RELAXED_MADD, ...localSet(SUM + sum));
  body.push(...i32Const(0), ...localSet(1), ...i32Const(65536), ...localSet(2));
  body.push(0x03, 0x40); // loop
  for (let step = 0; step < (shape === '8 sums, two quads' ? 1 : 2); step++) {
    const at = 16 * step;
    if (shape === '4 sums' || shape === '8 sums, splat loads') {
      body.push(...localGet(1), ...v128Load(at), ...localSet(T + step));
      const first = shape === '4 sums' ? 0 : 4 * step;
      for (let j = 0; j < 4; j++) madd(first + j, [...localGet(T + step), ...localGet(2), ...v128Load32Splat(at + 4 * j)]);
    } else if (shape === '8 sums, lane shuffles') {
      body.push(...localGet(1), ...v128Load(at), ...localSet(T), ...localGet(2), ...v128Load(at), ...localSet(T + 1));
      for (let j = 0; j < 4; j++) madd(4 * step + j, [...localGet(T), ...localGet(T + 1), ...localGet(T + 1), ...broadcastLane(j)]);
    } else {
      body.push(...localGet(1), ...v128Load(0), ...localSet(T), ...localGet(1), ...v128Load(32), ...localSet(T + 1));
      for (let j = 0; j < 4; j++) {
        body.push(...localGet(2), ...v128Load32Splat(4 * j), ...localSet(T + 2));
        madd(j, [...localGet(T), ...localGet(T + 2)]);
        madd(4 + j, [...localGet(T + 1), ...localGet(T + 2)]);
      }
    }
  }
  // both addresses advance 32 bytes and wrap at 8 KiB (inputs at 0, weights at 64 KiB)
  body.push(...localGet(1), ...i32Const(32), 0x6a, ...i32Const(8191), 0x71, ...localSet(1));
  body.push(...localGet(2), ...i32Const(32), 0x6a, ...i32Const(8191), 0x71, ...i32Const(65536), 0x6a, ...localSet(2));
  body.push(...localGet(0), ...i32Const(1), 0x6b, 0x22, 0, 0x0d, 0, 0x0b); // n - 1, tee n, br_if loop, end
  for (let j = 0; j < 8; j++) body.push(...i32Const(131072 + 16 * j), ...localGet(SUM + j), ...v128Store(0));
  body.push(0x0b);
  const fn = [0x02, 2, I32, 11, V128, ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [1, 0x60, 1, I32, 0]),
    ...section(2, [1, ...name('env'), ...name('mem'), 0x02, 0x00, 4]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('run'), 0x00, 0]),
    ...section(10, [1, ...uleb(fn.length), ...fn]),
  ]);
}

function main(): void {
  // relaxed SIMD and V8's optimizing compiler from the start, as the backend's kernels get them
  if (!fmaAvailable()) {
    console.error('simd-loops: this JavaScript engine cannot compile relaxed SIMD (f32x4.relaxed_madd)');
    process.exit(1);
  }
  compileOptimizedOnly();
  const memory = new WebAssembly.Memory({ initial: 4 });
  new Float32Array(memory.buffer).forEach((_, i, a) => (a[i] = ((i * 7919) % 1000) / 1e4));
  const runs = SHAPES.map((shape) => (new WebAssembly.Instance(new WebAssembly.Module(moduleBytes(shape)), { env: { mem: memory } }).exports as { run: (n: number) => void }).run);
  runs.forEach((run) => run(1000));
  const gflops: number[][] = SHAPES.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    runs.forEach((run, s) => {
      const t0 = performance.now();
      run(ITERATIONS);
      gflops[s].push((ITERATIONS * 8 * 8) / (performance.now() - t0) / 1e6); // 8 vector multiply-adds of 4 lanes x 2 flops
    });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const base = median(gflops[0]);
  console.log(`convolution inner loops in raw WebAssembly SIMD, one thread, ${ROUNDS} rounds (GFLOP/s: median, and the range)`);
  SHAPES.forEach((shape, s) => {
    const m = median(gflops[s]);
    console.log(`${shape.padEnd(24)} ${m.toFixed(1).padStart(6)}  (${Math.min(...gflops[s]).toFixed(1)}-${Math.max(...gflops[s]).toFixed(1)})  ${(m / base).toFixed(2)}x`);
  });
}

main();
