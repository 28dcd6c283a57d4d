/**
 * Unit 4: the UNet. Shapes, the reference "unet-tiny" (parameter count, names and layouts
 * of reference-unet.md), configs and presets, and golden numbers from PyTorch.
 *
 * Golden file: test/golden/unet-golden.json, written by scripts/golden/unet.py (PyTorch,
 * float64; rerun with `/usr/bin/python3 scripts/golden/unet.py`, see scripts/golden/README.md).
 * The weights are a closed-form function of the sorted parameter names, rebuilt here.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { noGrad } from '../src/autograd';
import { fromArray, randn, tensor } from '../src/creation';
import { UNET_PRESETS, UNet, UNetConfig, createUNet } from '../src/nn';
import { Generator } from '../src/random';
import { Tensor } from '../src/tensor';
import { forEachBackend } from './helpers/backends';

interface GoldenCase {
  name: string;
  config: Record<string, unknown>;
  input_shape: number[];
  t: number[];
  param_count: number;
  params: { name: string; shape: number[] }[];
  time_embedding_shape: number[];
  time_embedding: number[];
  output_shape: number[];
  output: number[];
  loss: number;
  grad_input: number[];
  grad_params: Record<string, { shape: number[]; values: number[] }>;
}

const golden = JSON.parse(fs.readFileSync(path.join(__dirname, 'golden', 'unet-golden.json'), 'utf8')) as {
  reference_param_count: number;
  cases: GoldenCase[];
};

/** The script's snake_case config in our camelCase. */
function toConfig(c: Record<string, unknown>): UNetConfig {
  return {
    inChannels: c.in_channels as number,
    baseChannels: c.base_channels as number,
    channelMults: c.channel_mults as number[],
    numResBlocks: c.num_res_blocks as number,
    attnLevels: c.attn_levels as number[],
    midAttention: c.mid_attention as boolean,
    timeFeatures: c.time_features as number,
    timeDim: c.time_dim as number,
    groups: c.groups as number,
  };
}

/** scripts/golden/README.md, "Deterministic weights and input", computed in float64. */
function deterministicValue(name: string, p: number, shape: number[]): Float32Array {
  const numel = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(numel);
  for (let i = 0; i < numel; i++) {
    const base = Math.sin(0.5 * (p + 1) + 0.37 * i);
    if (name.endsWith('.weight') && shape.length >= 2) out[i] = base / Math.sqrt(numel / shape[0]);
    else if (name.includes('norm') && name.endsWith('.weight')) out[i] = 1 + 0.2 * base;
    else out[i] = 0.2 * base;
  }
  return out;
}

function loadDeterministicWeights(model: UNet): void {
  const names = model.namedParameters().map(([n]) => n).sort();
  const shapes = new Map(model.namedParameters().map(([n, p]) => [n, p.shape]));
  const dict: Record<string, Tensor> = {};
  names.forEach((name, p) => (dict[name] = fromArray(deterministicValue(name, p, shapes.get(name)!), shapes.get(name)!)));
  model.loadStateDict(dict);
}

/**
 * Max |ours - golden| over the array, divided by the array's largest |golden| value
 * (so a small-valued gradient is held to the same relative standard as the output).
 */
function relMaxError(ours: ArrayLike<number>, ref: number[]): number {
  expect(ours.length).to.equal(ref.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(ours[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return err / scale;
}

/** The names and shapes of reference-unet.md, written out from the spec's text. */
function referenceParams(C: number): [string, number[]][] {
  const out: [string, number[]][] = [];
  const add = (name: string, shape: number[]) => out.push([name, shape]);
  const conv = (p: string, cout: number, cin: number, k: number) => (add(`${p}.weight`, [cout, cin, k, k]), add(`${p}.bias`, [cout]));
  const linear = (p: string, o: number, i: number) => (add(`${p}.weight`, [o, i]), add(`${p}.bias`, [o]));
  const norm = (p: string, c: number) => (add(`${p}.weight`, [c]), add(`${p}.bias`, [c]));
  const res = (p: string, cin: number, cout: number) => {
    norm(`${p}.norm1`, cin);
    conv(`${p}.conv1`, cout, cin, 3);
    linear(`${p}.temb`, cout, 128);
    norm(`${p}.norm2`, cout);
    conv(`${p}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${p}.skip`, cout, cin, 1);
  };
  const attn = (p: string, c: number) => {
    norm(`${p}.norm`, c);
    for (const x of ['q', 'k', 'v', 'proj']) conv(`${p}.${x}`, c, c, 1);
  };
  linear('time_mlp.0', 128, 32);
  linear('time_mlp.2', 128, 128);
  conv('conv_in', 32, C, 3);
  res('down0.res', 32, 32);
  conv('down0.down', 32, 32, 3);
  res('down1.res', 32, 64);
  conv('down1.down', 64, 64, 3);
  res('down2.res', 64, 64);
  res('mid.res1', 64, 64);
  attn('mid.attn', 64);
  res('mid.res2', 64, 64);
  res('up2.res', 128, 64);
  conv('up2.up', 64, 64, 3);
  res('up1.res', 128, 64);
  conv('up1.up', 64, 64, 3);
  res('up0.res', 96, 32);
  norm('out_norm', 32);
  conv('out_conv', C, 32, 3);
  return out;
}

describe('[unit 4: nn] the reference unet-tiny', () => {
  it('has exactly 793,697 parameters with the names and layouts of reference-unet.md', () => {
    const model = createUNet('unet-tiny');
    expect(model.numParameters()).to.equal(793697);
    expect(golden.reference_param_count).to.equal(793697);
    const ours = model.namedParameters().map(([n, p]) => [n, p.shape]);
    expect(ours).to.deep.equal(referenceParams(1));
    expect(referenceParams(1).reduce((s, [, sh]) => s + sh.reduce((a, b) => a * b, 1), 0)).to.equal(793697);
  });

  it('with 3 channels (CIFAR-10) only conv_in and out_conv change', () => {
    const model = createUNet('unet-tiny', { inChannels: 3 });
    expect(model.namedParameters().map(([n, p]) => [n, p.shape])).to.deep.equal(referenceParams(3));
    expect(model.numParameters()).to.equal(793697 + 2 * (32 * 9) + 2 * (32 * 9 + 1)); // conv_in.weight; out_conv.weight and bias
  });

  it('maps a 1x28x28 batch of 1 to the same shape, through 28 -> 14 -> 7 and back', () => {
    const model = createUNet('unet-tiny', { generator: new Generator(0) });
    const y = noGrad(() => model.forward(randn([1, 1, 28, 28]), [999]));
    expect(y.shape).to.deep.equal([1, 1, 28, 28]);
    expect(Array.from(y.toArray()).every(Number.isFinite)).to.equal(true);
  });
});

forEachBackend('[unit 4: nn] UNet configs and presets', () => {
  it('unet-mini maps 1x28x28 and 3x32x32 batches to eps of the same shape, with gradients to every parameter', () => {
    const mnist = createUNet('unet-mini', { generator: new Generator(1) });
    const y = mnist.forward(randn([2, 1, 28, 28]), tensor([0, 999]));
    expect(y.shape).to.deep.equal([2, 1, 28, 28]);
    y.square().mean().backward();
    const withoutGrad = mnist.namedParameters().filter(([, p]) => !p.grad).map(([n]) => n);
    expect(withoutGrad, 'parameters without a gradient').to.deep.equal([]);
    const cifar = createUNet('unet-mini', { inChannels: 3, generator: new Generator(3) });
    expect(noGrad(() => cifar.forward(randn([1, 3, 32, 32]), [500])).shape).to.deep.equal([1, 3, 32, 32]);
  });

  it('the same generator seed builds the same weights', () => {
    const a = createUNet('unet-mini', { generator: new Generator(5) }).stateDict();
    const b = createUNet('unet-mini', { generator: new Generator(5) }).stateDict();
    for (const k of Object.keys(a)) expect(Array.from(a[k].toArray()), k).to.deep.equal(Array.from(b[k].toArray()));
  });

  it('numResBlocks > 1 names blocks down{l}.res.{r} / down{l}.attn.{r}; attention levels add down{l}.attn and up{l}.attn', () => {
    const cfg: UNetConfig = { ...UNET_PRESETS['unet-mini'], channelMults: [1, 2], attnLevels: [1], numResBlocks: 2, timeDim: 32 };
    const model = createUNet(cfg);
    const names = model.namedParameters().map(([n]) => n);
    for (const n of ['down0.res.0.conv1.weight', 'down0.res.1.conv1.weight', 'down1.attn.0.q.weight', 'down1.attn.1.proj.bias', 'up1.res.1.conv2.weight', 'up1.attn.1.k.weight', 'up1.up.weight']) {
      expect(names, n).to.include(n);
    }
    expect(names.some((n) => n.startsWith('down0.attn'))).to.equal(false);
    // the first up block takes [h, skip]; the second its own output
    expect(model.getModule('up0.res.0').namedParameters().find(([n]) => n === 'conv1.weight')![1].shape).to.deep.equal([16, 48, 3, 3]);
    expect(model.getModule('up0.res.1').namedParameters().find(([n]) => n === 'conv1.weight')![1].shape).to.deep.equal([16, 16, 3, 3]);
    expect(model.forward(randn([1, 1, 4, 4]), [1]).shape).to.deep.equal([1, 1, 4, 4]);
  });

  it('unet-latent: one level at 7x7 for 4x7x7 latents, 450,564 parameters, output shaped like its input', () => {
    const m = createUNet('unet-latent', { generator: new Generator(1) });
    expect(m.numParameters()).to.equal(450564);
    expect(m.forward(randn([2, 4, 7, 7]), [3, 900]).shape).to.deep.equal([2, 4, 7, 7]);
  });

  it('unet-14: unet-tiny without its 7x7 level (the same tensors less down1.down, down2.* and up2.*), output shaped like its 14x14 input', () => {
    const tiny = new Map(createUNet('unet-tiny', { generator: new Generator(1) }).namedParameters().map(([n, p]) => [n, p.shape]));
    const m = createUNet('unet-14', { generator: new Generator(1) });
    const expected = [...tiny].filter(([n]) => !/^(down1\.down|down2\.|up2\.)/.test(n));
    expect(m.namedParameters().map(([n, p]) => [n, p.shape]).sort()).to.deep.equal(expected.sort());
    expect(m.forward(randn([2, 1, 14, 14]), [3, 900]).shape).to.deep.equal([2, 1, 14, 14]);
  });

  it('errors name what is wrong: preset, config field, input shape, timesteps', () => {
    expect(() => createUNet('unet-huge')).to.throw(/unknown preset 'unet-huge'; valid presets: unet-tiny, unet-mini, unet-14, unet-latent/);
    expect(() => createUNet({ ...UNET_PRESETS['unet-mini'], groups: 5 })).to.throw(/16 channels .* do not divide into 5 groups/);
    expect(() => createUNet({ ...UNET_PRESETS['unet-mini'], channelMults: [] })).to.throw(/channelMults must be a non-empty list/);
    expect(() => createUNet({ ...UNET_PRESETS['unet-mini'], attnLevels: [3] })).to.throw(/attnLevels must list level numbers in \[0, 2\]/);
    expect(() => createUNet({ ...UNET_PRESETS['unet-mini'], timeFeatures: 15 })).to.throw(/timeFeatures must be even/);
    const { timeDim: _omit, ...partial } = UNET_PRESETS['unet-mini'];
    expect(() => createUNet(partial as UNetConfig)).to.throw(/timeDim must be a positive integer, got undefined/);
    const model = createUNet('unet-mini');
    expect(() => model.forward(randn([1, 3, 8, 8]), [0])).to.throw(/input must be \[B, 1, H, W\], got \[1,3,8,8\]/);
    expect(() => model.forward(randn([1, 1, 6, 6]), [0])).to.throw(/must divide by 4/);
    expect(() => model.forward(randn([2, 1, 8, 8]), [0])).to.throw(/timesteps must be \[2\]/);
  });
});

forEachBackend('[unit 4: nn] UNet golden numbers from PyTorch (float64)', () => {
  for (const c of golden.cases) {
    it(`case ${c.name}: ${JSON.stringify(c.config.channel_mults)} mults, attention at [${c.config.attn_levels}]: output, time embedding, loss and gradients`, function () {
      const model = new UNet(toConfig(c.config));
      expect(model.numParameters()).to.equal(c.param_count);
      const ours = model.namedParameters().map(([n, p]) => ({ name: n, shape: p.shape })).sort((a, b) => (a.name < b.name ? -1 : 1));
      expect(ours).to.deep.equal(c.params);
      loadDeterministicWeights(model);

      const n = c.input_shape.reduce((a, b) => a * b, 1);
      const x = fromArray(Float32Array.from({ length: n }, (_, j) => Math.sin(0.1 * j + 0.3)), c.input_shape);
      x.requiresGrad = true;
      const t = tensor(c.t);
      const out = model.forward(x, t);
      const loss = out.square().mean();
      loss.backward();
      const e = noGrad(() => model.timeEmbedding(t));

      const errors: Record<string, number> = {
        output: relMaxError(out.toArray(), c.output),
        time_embedding: relMaxError(e.toArray(), c.time_embedding),
        loss: Math.abs(loss.item() - c.loss) / Math.abs(c.loss),
        grad_input: relMaxError(x.grad!.toArray(), c.grad_input),
      };
      expect(out.shape).to.deep.equal(c.output_shape);
      expect(e.shape).to.deep.equal(c.time_embedding_shape);
      const params = new Map(model.namedParameters());
      for (const [name, g] of Object.entries(c.grad_params)) {
        const p = params.get(name)!;
        expect(p.shape, name).to.deep.equal(g.shape);
        errors[`grad ${name}`] = relMaxError(p.grad!.toArray(), g.values);
      }
      if (process.env.TD_VERBOSE) console.log(`      case ${c.name} max errors (relative to each array's max |value|):`, errors);
      // float32 against float64 (float32 epsilon 6e-8): outputs and the time embedding to
      // 1e-5 of their scale, gradients (a longer chain of float32 sums) to 1e-4 of theirs
      for (const [what, err] of Object.entries(errors)) {
        const tol = what.startsWith('grad') ? 1e-4 : 1e-5;
        expect(err, `${what}: max error / max |golden| = ${err}`).to.be.below(tol);
      }
    });
  }
});

forEachBackend('[unit 4: nn] class conditioning (an embedding with a null class, added to the time embedding)', () => {
  const TINY_COND: UNetConfig = { inChannels: 1, baseChannels: 8, channelMults: [1, 2], numResBlocks: 1, attnLevels: [], midAttention: true, timeFeatures: 8, timeDim: 16, groups: 4 };

  it('unet-tiny with 10 classes adds one [11, 128] table, its null row (index 10) zero', () => {
    const model = createUNet('unet-tiny', { numClasses: 10, generator: new Generator(0) });
    expect(model.numParameters()).to.equal(793697 + 11 * 128);
    const last = model.namedParameters().slice(-1)[0];
    expect(last[0]).to.equal('class_emb.weight');
    expect(last[1].shape).to.deep.equal([11, 128]);
    const w = last[1].toArray();
    expect(Array.from(w.subarray(10 * 128))).to.deep.equal(new Array(128).fill(0));
    expect(w.subarray(0, 10 * 128).some((v) => v !== 0)).to.equal(true);
  });

  it('the null class reproduces the unconditional network of the same seed exactly, and no labels means the null class', () => {
    const plain = createUNet(TINY_COND, { generator: new Generator(7) });
    const cond = createUNet(TINY_COND, { numClasses: 3, generator: new Generator(7) });
    // the same weights everywhere else (the table is drawn last)
    const a = plain.stateDict();
    const b = cond.stateDict();
    for (const k of Object.keys(a)) expect(Array.from(b[k].toArray()), k).to.deep.equal(Array.from(a[k].toArray()));
    const x = randn([2, 1, 8, 8], { generator: new Generator(1) });
    const t = tensor([3, 40]);
    const want = noGrad(() => plain.forward(x, t)).toArray();
    expect(Array.from(noGrad(() => cond.forward(x, t, [3, 3])).toArray())).to.deep.equal(Array.from(want));
    expect(Array.from(noGrad(() => cond.forward(x, t)).toArray())).to.deep.equal(Array.from(want));
    // a real class changes the prediction
    const other = noGrad(() => cond.forward(x, t, [0, 2])).toArray();
    expect(Math.max(...Array.from(other, (v, i) => Math.abs(v - want[i])))).to.be.above(1e-4);
  });

  it('the table gets the gradient of the rows that were looked up (central differences), and nothing elsewhere', () => {
    const model = createUNet(TINY_COND, { numClasses: 3, generator: new Generator(2) });
    const x = randn([2, 1, 8, 8], { generator: new Generator(3) });
    const t = tensor([10, 30]);
    const w = model.classEmb!.weight;
    model.forward(x, t, [1, 3]).square().mean().backward();
    const g = w.grad!.toArray();
    const numeric = (i: number) => {
      const h = 1e-2;
      const at = (delta: number) => {
        const data = w.toArray().slice();
        data[i] += delta;
        noGrad(() => w.assign_(fromArray(data, w.shape)));
        const v = noGrad(() => model.forward(x, t, [1, 3]).square().mean()).item();
        data[i] -= delta;
        noGrad(() => w.assign_(fromArray(data, w.shape)));
        return v;
      };
      return (at(h) - at(-h)) / (2 * h);
    };
    for (const i of [16 + 0, 16 + 5, 48 + 2, 48 + 15]) expect(g[i], `row ${Math.floor(i / 16)}`).to.be.closeTo(numeric(i), 2e-3 * (1 + Math.abs(g[i])) + 1e-5);
    // rows 0 and 2 were not looked up
    expect(Array.from(g.subarray(0, 16)).every((v) => v === 0)).to.equal(true);
    expect(Array.from(g.subarray(32, 48)).every((v) => v === 0)).to.equal(true);
  });

  it('rejects labels an unconditional network cannot take and labels out of range', () => {
    const plain = createUNet(TINY_COND);
    const cond = createUNet(TINY_COND, { numClasses: 3 });
    const x = randn([2, 1, 8, 8]);
    expect(() => plain.forward(x, [1, 2], [0, 1])).to.throw(/class labels were given to an unconditional network/);
    expect(() => cond.forward(x, [1, 2], [0, 4])).to.throw(/class label 4 at position 1 is not an integer in \[0, 3\] \(3 = the null class\)/);
    expect(() => cond.forward(x, [1, 2], [0])).to.throw(/1 class labels for a batch of 2/);
    expect(() => createUNet({ ...TINY_COND, numClasses: -1 })).to.throw(/numClasses must be an integer >= 0/);
  });
});
