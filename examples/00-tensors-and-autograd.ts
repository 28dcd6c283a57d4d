/**
 * 00: tensors and autograd in five minutes.
 *
 *   npx ts-node --transpile-only examples/00-tensors-and-autograd.ts
 *
 * Shows: a tensor is (storage, shape, strides, offset), so transpose and slice are views
 * that copy nothing; NumPy broadcasting; backward() filling .grad (a broadcast bias gets
 * its gradient summed back to its own shape); the recorded graph as text (printGraph) and
 * as Graphviz (toDot, written to runs/examples/graph.dot); and gradCheck comparing
 * backward with central differences. Read with docs/01-tensors.md and docs/02-autograd.md.
 */
import * as fs from 'fs';
import { tensor, randn, manualSeed, noGrad, printGraph, toDot, gradCheck } from '../src';

manualSeed(0);
const section = (title: string) => console.log(`\n---- ${title}`);

// ---------------------------------------------------------------- 1. storage, shape, strides
section('1. a tensor is a strided view of a flat storage');
const a = tensor([
  [1, 2, 3],
  [4, 5, 6],
]); // [2, 3]
console.log('a =', a.toString());
console.log(`a.shape [${a.shape}]  a.strides [${a.strides}]  a.offset ${a.offset}  contiguous ${a.isContiguous()}`);

const aT = a.transpose(0, 1); // [3, 2]: swap the strides, copy nothing
console.log('a.T =', aT.toString());
console.log(`a.T.shape [${aT.shape}]  a.T.strides [${aT.strides}]  contiguous ${aT.isContiguous()}  same storage as a: ${aT.storage === a.storage}`);

const col = a.slice(1, 1, 2); // a[:, 1:2], a view that starts at offset 1
console.log(`a[:, 1:2] = ${col.toString()}  offset ${col.offset}  strides [${col.strides}]  same storage: ${col.storage === a.storage}`);

const dense = aT.contiguous(); // a real copy in row-major order
console.log(`a.T.contiguous(): strides [${dense.strides}]  same storage: ${dense.storage === a.storage}`);

// ---------------------------------------------------------------- 2. broadcasting
section('2. broadcasting: shapes are aligned on the right; a size-1 dim is repeated');
const row = tensor([10, 20, 30]); // [3]
const column = tensor([[1], [2]]); // [2, 1]
console.log('a + row        =', a.add(row).toString(), ' shape', `[${a.add(row).shape}]`);
console.log('column * row   =', column.mul(row).toString(), ' shape', `[${column.mul(row).shape}]`);
const expanded = row.expand(2, 3); // the same repetition as a view: stride 0, no copy
console.log(`row.expand(2, 3): strides [${expanded.strides}]  same storage: ${expanded.storage === row.storage}`);

// ---------------------------------------------------------------- 3. backward
section('3. backward(): gradients of a tiny linear layer with a ReLU');
const x = randn([4, 3]); // [B, in], data: no gradient needed
const w = randn([3, 2], { requiresGrad: true }); // [in, out]
const b = tensor([0.1, -0.1], undefined, { requiresGrad: true }); // [out], broadcast over B
x.name = 'x';
w.name = 'w';
b.name = 'b';
const loss = x.matmul(w).add(b).relu().square().mean(); // a scalar
loss.name = 'loss';
console.log('loss =', loss.toString());
console.log('before backward: w.grad is', w.grad);

loss.backward();
console.log('after backward:');
console.log('dloss/dw =', w.grad!.toString(), ` shape [${w.grad!.shape}]`);
console.log('dloss/db =', b.grad!.toString(), ` shape [${b.grad!.shape}]  (b was broadcast over 4 rows; its gradient is summed back to [2])`);
console.log('x.grad   =', x.grad, ' (x did not ask for a gradient)');

// ---------------------------------------------------------------- 4. the graph
section('4. the recorded graph (printGraph), root first; mean() is Sum then MulScalar by 1/n');
console.log(printGraph(loss));
fs.mkdirSync('runs/examples', { recursive: true });
fs.writeFileSync('runs/examples/graph.dot', toDot(loss) + '\n'); // leaves show their grad's shape now
console.log('wrote runs/examples/graph.dot (render it with: dot -Tpng runs/examples/graph.dot -o runs/examples/graph.png)');

// noGrad: evaluate without recording a graph (what sampling and optimizer updates do).
const evaluated = noGrad(() => x.matmul(w).add(b));
console.log(`\nunder noGrad: requiresGrad ${evaluated.requiresGrad}, gradFn ${evaluated.gradFn}`);

// ---------------------------------------------------------------- 5. gradCheck
section('5. gradCheck: backward against central differences (f(x+h) - f(x-h)) / 2h');
// gradCheck copies each input into a fresh dense leaf, so layouts to test are made inside f:
// here a broadcast ([3] against [2, 3]) and a transposed, non-contiguous view of r.
const p = randn([2, 3]);
const q = randn([3]);
const r = randn([3, 2]);
type T = ReturnType<typeof randn>;
const f = (p: T, q: T, r: T) => p.mul(q).sigmoid().add(r.transpose(0, 1).tanh()).square(); // r.T: strides [1, 2]
const result = gradCheck(f, [p, q, r]);
console.log(`ok ${result.ok}, ${result.checked} derivatives checked, max |analytic - numeric| = ${result.maxAbsError.toExponential(2)}`);
console.log('worst element:', result.worst);
