/**
 * 04: write your own differentiable op, and prove its backward right with gradCheck.
 *
 *   npx ts-node --transpile-only examples/04-write-your-own-op.ts
 *
 * The template for a course assignment. A new op is a Function subclass with its forward
 * (the value) and its backward (the derivative, written with tensor ops) side by side,
 * exactly like the ops in src/ops/elementwise.ts. Here: softplus(x) = ln(1 + e^x), a smooth
 * ReLU, whose derivative is the logistic sigmoid. We check it three ways: against a plain
 * loop over floats (forward), against central differences (backward), and against a
 * deliberately wrong backward, to see what a failed check looks like. Read with
 * docs/02-autograd.md.
 */
import { Context, Function, Tensor, assertGradCheck, gradCheck, manualSeed, randn, tensor } from '../src';

/**
 * softplus(x) = ln(1 + e^x).
 *   forward, computed stably:  max(x, 0) + ln(1 + e^-|x|)   (e^x overflows float32 for x > 88)
 *   backward:                  d/dx ln(1 + e^x) = e^x / (1 + e^x) = sigmoid(x)
 */
class Softplus extends Function {
  forward(ctx: Context, x: Tensor): Tensor {
    ctx.saveForBackward(x); // backward needs x (sigmoid(x)), so keep it
    return x.relu().add(x.abs().neg().exp().add(1).log());
  }
  backward(ctx: Context, gradOutput: Tensor): (Tensor | null)[] {
    const [x] = ctx.saved;
    return [gradOutput.mul(x.sigmoid())]; // chain rule: dL/dx = dL/dy * dy/dx
  }
}
const softplus = (x: Tensor) => Softplus.apply(x);

/** The same op with a mistake in backward: the derivative of ln(1 + e^x) taken as e^x. */
class SoftplusWrong extends Softplus {
  backward(ctx: Context, gradOutput: Tensor): (Tensor | null)[] {
    const [x] = ctx.saved;
    return [gradOutput.mul(x.exp())];
  }
}

manualSeed(0);

// 1. forward against an independent computation: a plain loop over floats in float64
const x = randn([3, 4]).mul(3);
const ours = softplus(x).toArray();
const xs = x.toArray();
let maxDiff = 0;
for (let i = 0; i < xs.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - Math.log1p(Math.exp(xs[i]))));
console.log(`forward:  max |softplus(x) - log1p(exp(x))| over ${xs.length} values = ${maxDiff.toExponential(2)}`);
const big = tensor([100]);
console.log(`          softplus(100) = ${softplus(big).item()}, while the naive big.exp().add(1).log() gives ${big.exp().add(1).log().item()}`);

// 2. backward against central differences, on a plain tensor and on a transposed (strided) view
const a = randn([4, 5], { requiresGrad: true });
const y = softplus(a).sum();
y.backward();
console.log(`backward: a.grad has shape [${a.grad!.shape}]; graph root ${y.gradFn!.name} <- ${y.gradFn!.inputs[0].gradFn!.name}`);
const r1 = assertGradCheck(softplus, [randn([4, 5])]); // throws with the worst element if wrong
console.log(`gradCheck on [4, 5]:                    ok ${r1.ok}, ${r1.checked} elements, max error ${r1.maxAbsError.toExponential(2)}`);
// gradCheck copies its inputs into dense leaves, so a strided layout is made inside the function
const r2 = assertGradCheck((t) => {
  const v = t.transpose(0, 1); // [4, 5] with strides [1, 4]
  return softplus(v).mul(v);
}, [randn([5, 4])]);
console.log(`gradCheck on a transposed view, x*sp(x): ok ${r2.ok}, ${r2.checked} elements, max error ${r2.maxAbsError.toExponential(2)}`);

// 3. what a wrong backward looks like
const bad = gradCheck((t) => SoftplusWrong.apply(t), [randn([4, 5])]);
const wst = bad.worst!;
console.log(`gradCheck on the wrong backward:        ok ${bad.ok}; worst element ${wst.index}: analytic ${wst.analytic.toFixed(4)} vs numeric ${wst.numeric.toFixed(4)}`);
