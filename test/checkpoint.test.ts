/**
 * Unit 4: checkpoints. The safetensors bytes read by hand, bit-exact round trips, every way
 * a damaged or foreign file is refused (each error names the file), atomic writes that keep
 * the old checkpoint when a save fails midway, and training checkpoints that resume a run
 * exactly.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fromArray, randn, tensor } from '../src/creation';
import { Conv2d, Linear, Module, Sequential, SiLU, createUNet } from '../src/nn';
import { Adam, EMA } from '../src/optim';
import { Generator } from '../src/random';
import {
  loadModelWeights, loadSafetensors, loadTrainingCheckpoint, parseSafetensors, readSafetensors, readTrainingCheckpointInfo,
  saveModelWeights, saveSafetensors, saveTrainingCheckpoint, serializeSafetensors, writeFileAtomic,
} from '../src/checkpoint';

let dir: string;
before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-ddpm-ckpt-'))));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = (name: string) => path.join(dir, name);

/** A header written by hand the way the spec describes it, for files we corrupt on purpose. */
function rawFile(header: string, data: Uint8Array = new Uint8Array(0)): Buffer {
  const h = Buffer.from(header, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('[unit 4: checkpoints] safetensors', () => {
  it('writes the bytes of the spec: u64 LE header length, JSON header padded with spaces to 8 bytes, LE float32 data', () => {
    const raw = serializeSafetensors({ a: tensor([1, -2]), b: tensor([[0.5]]) }, { note: 'hi' });
    expect(raw).to.be.instanceOf(Uint8Array);
    const bytes = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength); // read back with Node's own decoders
    const n = Number(bytes.readBigUInt64LE(0));
    expect((8 + n) % 8).to.equal(0);
    const header = bytes.subarray(8, 8 + n).toString('utf8');
    expect(header.trimEnd()).to.equal(
      '{"__metadata__":{"note":"hi"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}}',
    );
    expect(/^ *$/.test(header.slice(header.trimEnd().length))).to.equal(true);
    // 1.0f = 0x3f800000, -2.0f = 0xc0000000, 0.5f = 0x3f000000, least significant byte first
    expect(Array.from(bytes.subarray(8 + n))).to.deep.equal([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0, 0x3f]);
    expect(bytes.length).to.equal(8 + n + 12);
  });

  it('save -> load is bit-exact, including -0, infinities, NaN and subnormals, and keeps the metadata', () => {
    const g = new Generator(9);
    const special = Float32Array.from([0, -0, Infinity, -Infinity, NaN, 1e-45, -3.4028234663852886e38, 1 / 3]);
    const tensors = {
      'conv.weight': randn([4, 3, 3, 3], { generator: g }),
      special: fromArray(special, [2, 4]),
      scalar: tensor(7.25),
      empty: fromArray(new Float32Array(0), [0, 3]),
    };
    saveSafetensors(file('rt.safetensors'), tensors, { step: '12', config: '{"a":1}' });
    const back = loadSafetensors(file('rt.safetensors'));
    expect(back.metadata).to.deep.equal({ step: '12', config: '{"a":1}' });
    expect(Object.keys(back.tensors)).to.deep.equal(Object.keys(tensors));
    for (const [name, t] of Object.entries(tensors)) {
      expect(back.tensors[name].shape, name).to.deep.equal(t.shape);
      expect(bits(back.tensors[name].toArray()), name).to.deep.equal(bits(t.toArray()));
    }
    // host arrays keep every bit, NaN payloads included
    const weird = new Float32Array(new Uint32Array([0x7fc00001, 0xffffffff, 0x00000001, 0x80000000]).buffer);
    const parsed = parseSafetensors(serializeSafetensors({ w: { shape: [4], data: weird } }));
    expect(bits(parsed.tensors.w.data)).to.deep.equal(bits(weird));
  });

  it('refuses a missing file, a short file, a truncated file and a file of another kind, naming the file', () => {
    const missing = file('nope.safetensors');
    expect(() => readSafetensors(missing)).to.throw(`no such file '${missing}'`);
    expect(() => readSafetensors(dir)).to.throw(/is a directory/);

    fs.writeFileSync(file('short.bin'), Buffer.from([1, 2, 3]));
    expect(() => readSafetensors(file('short.bin'))).to.throw(`'${file('short.bin')}' is not a safetensors file: it has 3 bytes`);

    const good = serializeSafetensors({ w: randn([10, 10]) });
    fs.writeFileSync(file('cut-data.safetensors'), good.subarray(0, good.length - 7));
    expect(() => readSafetensors(file('cut-data.safetensors'))).to.throw(/cut-data\.safetensors' is truncated: tensor 'w' needs data bytes \[0,400\] but the file holds only 393/);
    fs.writeFileSync(file('cut-header.safetensors'), good.subarray(0, 20));
    expect(() => readSafetensors(file('cut-header.safetensors'))).to.throw(/cut-header\.safetensors' is truncated or not a safetensors file: the header should be \d+ bytes but only 12 follow/);

    fs.writeFileSync(file('notes.txt'), 'This is a text file, not a checkpoint at all.');
    expect(() => readSafetensors(file('notes.txt'))).to.throw(/notes\.txt' is not a safetensors file: its first 8 bytes give a header length of \d+ bytes, which is implausible/);
    fs.writeFileSync(file('png.safetensors'), Buffer.concat([Buffer.from([0x10, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('\x89PNG\r\n\x1a\n IHDR ....')]));
    expect(() => readSafetensors(file('png.safetensors'))).to.throw(/png\.safetensors' is not a safetensors file: its header is not valid JSON/);
  });

  it('refuses headers that do not describe the data: dtype, shape, offsets, gaps, overlaps, trailing bytes', () => {
    const data = new Uint8Array(8);
    const cases: [string, Buffer, RegExp][] = [
      ['array header', rawFile('[1, 2]'), /header is not a JSON object/],
      ['f16', rawFile('{"w":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}', data), /tensor 'w' of dtype "F16"; only F32 is supported/],
      ['bad shape', rawFile('{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', data), /tensor 'w' with an invalid shape \[-2\]/],
      ['bad offsets', rawFile('{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', data), /tensor 'w' with invalid data_offsets \[8,0\]/],
      ['size', rawFile('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', data), /data_offsets \[0,8\] span 8 bytes, but shape \[3\] of F32 needs 12/],
      ['overlap', rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data), /tensor 'b' starts at data byte 4, expected 8/],
      ['gap', rawFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data), /tensor 'a' starts at data byte 4, expected 0/],
      ['trailing', rawFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', data), /4 bytes after the last tensor's data/],
      ['metadata', rawFile('{"__metadata__":{"step":3}}'), /__metadata__ entry 'step' that is not a string/],
    ];
    for (const [name, bytes, message] of cases) {
      const f = file(`bad-${name.replace(' ', '-')}.safetensors`);
      fs.writeFileSync(f, bytes);
      expect(() => readSafetensors(f), name).to.throw(Error, new RegExp(`'${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}' .*${message.source}`));
    }
    // the hand-written header with the right numbers does parse
    const ok = parseSafetensors(rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', new Uint8Array(new Float32Array([1, 2]).buffer)));
    expect(Array.from(ok.tensors.a.data)).to.deep.equal([1, 2]);
  });

  it('an atomic write that fails midway leaves the previous checkpoint intact and no temporary file', () => {
    const f = file('atomic.safetensors');
    saveSafetensors(f, { w: tensor([1, 2, 3]) }, { step: '1' });
    const before = fs.readFileSync(f);
    // A real failure in the middle: the second tensor's memory is gone by the time its turn comes,
    // after the header and the first tensor have been written to the temporary file.
    const gone = tensor([4, 5, 6]);
    gone.dispose();
    expect(() => saveSafetensors(f, { w: tensor([7, 8, 9]), v: gone }, { step: '2' })).to.throw(/could not write '.*atomic\.safetensors' \(any previous file is unchanged\): .*disposed/);
    expect(fs.readFileSync(f).equals(before)).to.equal(true);
    expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp-'))).to.deep.equal([]);
    // the same with a byte source that throws after some bytes
    function* failing() {
      yield new Uint8Array(1000);
      throw new Error('disk full (simulated)');
    }
    expect(() => writeFileAtomic(f, failing())).to.throw('disk full (simulated)');
    expect(fs.readFileSync(f).equals(before)).to.equal(true);
    expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp-'))).to.deep.equal([]);
    // and a successful save replaces it
    saveSafetensors(f, { w: tensor([7, 8, 9]) }, { step: '2' });
    expect(readSafetensors(f).metadata.step).to.equal('2');
  });
});

/** A small conv net standing in for the UNet where only the bookkeeping matters. */
function smallNet(seed: number): Module {
  const g = new Generator(seed);
  return new Sequential(new Conv2d(1, 4, 3, { padding: 1, generator: g }), new SiLU(), new Conv2d(4, 1, 3, { padding: 1, generator: g }));
}

describe('[unit 4: checkpoints] training checkpoints', () => {
  it('a run resumed from a checkpoint continues exactly as the uninterrupted run', () => {
    const config = { model: 'small', lr: 0.01, emaDecay: 0.9 };
    /** Train `steps` steps from `start`; data and noise come from a generator whose state is checkpointed. */
    function train(model: Module, opt: Adam, ema: EMA, data: Generator, start: number, steps: number, ckptAt?: number) {
      for (let step = start; step < start + steps; step++) {
        if (step === ckptAt) {
          saveTrainingCheckpoint(file('train.safetensors'), {
            step, model, ema, optimizer: opt, config, rng: { data: data.getState() }, dataLoader: { epoch: 0, position: step * 2 }, extra: { note: 'unit test' },
          });
        }
        const x = randn([2, 1, 4, 4], { generator: data });
        opt.zeroGrad();
        model.forward(x).sub(x).square().mean().backward();
        opt.step();
        ema.update(model);
      }
    }
    const fresh = () => {
      const model = smallNet(3);
      return { model, opt: new Adam(model.namedParameters(), { lr: config.lr }), ema: new EMA(model, { decay: config.emaDecay }) };
    };
    // uninterrupted: 6 steps, writing a checkpoint at step 3 on the way
    const a = fresh();
    train(a.model, a.opt, a.ema, new Generator(42), 0, 6, 3);
    // resumed: new objects with other values, everything restored from the file
    const b = { model: smallNet(99), opt: undefined as unknown as Adam, ema: undefined as unknown as EMA };
    b.opt = new Adam(b.model.namedParameters(), { lr: 1 });
    b.ema = new EMA(b.model, { decay: 0.5 });
    const info = loadTrainingCheckpoint(file('train.safetensors'), { model: b.model, ema: b.ema, optimizer: b.opt });
    expect(info.step).to.equal(3);
    expect(info.config).to.deep.equal(config);
    expect(info.dataLoader).to.deep.equal({ epoch: 0, position: 6 });
    expect(info.extra).to.deep.equal({ note: 'unit test' });
    expect(info.optimizer).to.deep.include({ type: 'Adam', step: 3 });
    expect(info.ema).to.deep.equal({ decay: 0.9, warmup: true, numUpdates: 3 });
    expect(b.opt.lr).to.equal(0.01);
    const data = new Generator(0).setState((info.rng as { data: ReturnType<Generator['getState']> }).data);
    train(b.model, b.opt, b.ema, data, info.step, 3);
    for (const [name, p] of a.model.namedParameters()) {
      expect(bits(b.model.stateDict()[name].toArray()), name).to.deep.equal(bits(p.toArray()));
      expect(bits(b.ema.shadow.get(name)!.toArray()), `ema ${name}`).to.deep.equal(bits(a.ema.shadow.get(name)!.toArray()));
    }
    // the file is a plain safetensors file with model.*, ema.* and optim.* tensors
    const raw = readSafetensors(file('train.safetensors'));
    expect(Object.keys(raw.tensors)).to.include.members(['model.0.weight', 'ema.2.bias', 'optim.m.0.weight', 'optim.v.2.bias']);
    expect(readTrainingCheckpointInfo(file('train.safetensors')).step).to.equal(3);
  });

  it('loadModelWeights reads a training checkpoint (EMA weights by default, or the raw ones) or a plain weights file', () => {
    const model = smallNet(1);
    const ema = new EMA(model, { decay: 0.5, warmup: false });
    for (const p of model.parameters()) p.assign_(p.add(1)); // the model moves away from its average
    ema.update(model);
    saveTrainingCheckpoint(file('sample.safetensors'), { step: 1, model, ema });

    const target = smallNet(2);
    expect(loadModelWeights(file('sample.safetensors'), target).source).to.equal('ema');
    expect(bits(target.parameters()[0].toArray())).to.deep.equal(bits(ema.shadow.get('0.weight')!.toArray()));
    expect(loadModelWeights(file('sample.safetensors'), target, { prefer: 'model' }).source).to.equal('model');
    expect(bits(target.parameters()[0].toArray())).to.deep.equal(bits(model.parameters()[0].toArray()));

    saveModelWeights(file('weights.safetensors'), model, { note: 'plain' });
    expect(Object.keys(readSafetensors(file('weights.safetensors')).tensors)).to.deep.equal(['0.weight', '0.bias', '2.weight', '2.bias']);
    const other = smallNet(3);
    expect(loadModelWeights(file('weights.safetensors'), other)).to.deep.equal({ source: 'weights', metadata: { note: 'plain' } });
    expect(bits(other.parameters()[3].toArray())).to.deep.equal(bits(model.parameters()[3].toArray()));
  });

  it('loading the weights of another model fails with the file and the first mismatching key or shape, and changes nothing', () => {
    const mnist = createUNet('unet-mini', { generator: new Generator(0) });
    saveModelWeights(file('mini.safetensors'), mnist);
    const cifar = createUNet('unet-mini', { inChannels: 3, generator: new Generator(0) });
    const before = bits(cifar.parameters()[0].toArray());
    const f = file('mini.safetensors');
    expect(() => loadModelWeights(f, cifar)).to.throw(`'${f}' does not fit this UNet (weights file): first mismatch: 'conv_in.weight' is [16,1,3,3] in the file but [16,3,3,3] in the model`);
    expect(bits(cifar.parameters()[0].toArray())).to.deep.equal(before);
    expect(() => loadModelWeights(f, smallNet(0))).to.throw(/does not fit this Sequential \(weights file\): first mismatch: parameter '0\.weight' \[4,1,3,3\] is not in the file/);
    const bigger = new Sequential(new Linear(2, 2));
    saveModelWeights(file('lin.safetensors'), new Sequential(new Linear(2, 2), new Linear(2, 2)));
    expect(() => loadModelWeights(file('lin.safetensors'), bigger)).to.throw(/first mismatch: the file has '1\.weight', which the model does not/);
    expect(() => loadTrainingCheckpoint(f, { model: mnist })).to.throw(/is not a tiny-ddpm training checkpoint/);
    saveTrainingCheckpoint(file('no-ema.safetensors'), { step: 0, model: smallNet(0) });
    expect(() => loadTrainingCheckpoint(file('no-ema.safetensors'), { model: smallNet(0), ema: new EMA(smallNet(0)) })).to.throw(/has no EMA weights/);
    expect(loadModelWeights(file('no-ema.safetensors'), smallNet(1)).source).to.equal('model');
  });
});
