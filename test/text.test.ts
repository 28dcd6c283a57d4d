/**
 * [unit 8: conditioning] Captions, the tokenizer, the transformer text encoder, cross-attention
 * and the text-conditional UNet: round trips and error messages, padding masked out (against
 * an encoder that never saw the padding), central-difference gradients on every backend, and
 * the empty prompt reproducing the unconditional network exactly.
 */
import { expect } from 'chai';
import { noGrad } from '../src/autograd';
import { fromArray, randn, tensor } from '../src/creation';
import { assertGradCheck } from '../src/gradcheck';
import { CrossAttention2d, TextEncoder, TransformerBlock, createUNet, type UNetConfig } from '../src/nn';
import { Generator } from '../src/random';
import { Tensor } from '../src/tensor';
import { allCaptions, captionsForClasses } from '../src/text/captions';
import { CLS, PAD, Tokenizer, UNK, editDistance, words } from '../src/text/tokenizer';
import { TextConditioner } from '../src/train/condition';
import { FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES } from '../src/data/dataset';
import { forEachBackend } from './helpers/backends';

const digits = captionsForClasses(MNIST_CLASS_NAMES);
const tok = Tokenizer.fromTexts(allCaptions(digits));

describe('[unit 8: conditioning] captions and the tokenizer', () => {
  it('writes each digit in several ways, and fashion names lowercased', () => {
    expect(digits[7]).to.include.members(['seven', '7', 'the digit seven', 'a handwritten 7']);
    expect(digits.every((c) => c.length === digits[0].length)).to.equal(true);
    const fashion = captionsForClasses(FASHION_MNIST_CLASS_NAMES);
    expect(fashion[9][0]).to.equal('ankle boot');
    expect(fashion[0][0]).to.equal('t-shirt or top');
    expect(words('The Digit, SEVEN!')).to.deep.equal(['the', 'digit', 'seven']);
  });

  it('every caption round-trips through encode and decode; rows are [CLS] words [PAD]...', () => {
    expect(tok.vocab.slice(0, 3)).to.deep.equal(['[PAD]', '[UNK]', '[CLS]']);
    expect(tok.maxLength).to.equal(1 + Math.max(...allCaptions(digits).map((c) => words(c).length)));
    for (const c of allCaptions(digits)) expect(tok.decode(tok.encode(c))).to.equal(words(c).join(' '));
    const row = tok.encode('a handwritten 7');
    expect(row[0]).to.equal(CLS);
    expect(Array.from(row.subarray(4))).to.deep.equal(new Array(tok.maxLength - 4).fill(PAD));
    expect(Array.from(tok.nullRow())).to.deep.equal([CLS, ...new Array(tok.maxLength - 1).fill(PAD)]);
    // a rebuilt tokenizer from the stored state encodes the same
    expect(Array.from(new Tokenizer(tok.state()).encode('the digit nine'))).to.deep.equal(Array.from(tok.encode('the digit nine')));
  });

  it('an unknown word names the nearest known words and the vocabulary size; lenient encoding gives [UNK]', () => {
    expect(() => tok.encode('a handwriten seven')).to.throw(/unknown word 'handwriten' in 'a handwriten seven'; nearest known words: handwritten, .* \(vocabulary of 25 words\)/);
    expect(tok.nearest('sevn')[0]).to.equal('seven');
    const lenient = tok.encode('a purple seven', { strict: false });
    expect(lenient[2]).to.equal(UNK);
    expect(tok.decode(lenient)).to.equal('a [UNK] seven');
    expect(() => tok.encode('one two three four five six')).to.throw(/has 6 words; the text encoder reads at most 3/);
    expect(editDistance('kitten', 'sitting')).to.equal(3);
    expect(editDistance('', 'abc')).to.equal(3);
    expect(() => new Tokenizer({ vocab: ['a', 'b'], maxLength: 4 })).to.throw(/must start with \[PAD\], \[UNK\], \[CLS\]/);
  });

  it('the text conditioner draws a caption of the right class per image, or the empty prompt', () => {
    const cond = new TextConditioner({ tokenizer: tok.state(), captions: digits });
    const rows = cond.training(Int32Array.from([7, 7, 7, 3]), 0, new Generator(1));
    for (let i = 0; i < 4; i++) {
      const text = tok.decode(rows.subarray(i * tok.maxLength, (i + 1) * tok.maxLength));
      expect(cond.classOfPrompt(text)).to.equal(i < 3 ? 7 : 3);
    }
    const dropped = cond.training(Int32Array.from([1, 2]), 1, new Generator(1));
    expect(Array.from(dropped)).to.deep.equal([...tok.nullRow(), ...tok.nullRow()]);
    expect(cond.classOfPrompt('A handwritten 7')).to.equal(7);
    expect(cond.classOfPrompt('a handwritten 77')).to.equal(null);
  });
});

forEachBackend('[unit 8: conditioning] text encoder and cross-attention', () => {
  it('padding is masked out: real tokens get the states an encoder without the padding gives', () => {
    const long = new TextEncoder({ vocabSize: 6, maxLength: 5, dim: 8, layers: 2, heads: 2 }, { generator: new Generator(3) });
    const short = new TextEncoder({ vocabSize: 6, maxLength: 2, dim: 8, layers: 2, heads: 2 }, { generator: new Generator(3) });
    // the same weights, the short one's positions being the first two of the long one's
    noGrad(() => {
      const sd = long.stateDict();
      for (const [name, p] of short.namedParameters()) {
        const src = sd[name];
        p.assign_(name === 'pos_emb.weight' ? fromArray(src.toArray().slice(0, 2 * 8), [2, 8]) : src);
      }
    });
    const a = noGrad(() => long.forward([CLS, 4, PAD, PAD, PAD]));
    const b = noGrad(() => short.forward([CLS, 4]));
    expect(a.states.shape).to.deep.equal([1, 5, 8]);
    expect(a.pooled.shape).to.deep.equal([1, 8]);
    const sa = a.states.toArray().slice(0, 16);
    const sb = b.states.toArray();
    sa.forEach((v, i) => expect(v).to.be.closeTo(sb[i], 1e-5));
    expect(Array.from(a.mask.toArray())).to.deep.equal([0, 0, -1e9, -1e9, -1e9]);
  });

  it('a transformer block passes central-difference gradient checks', () => {
    const block = new TransformerBlock(8, { heads: 2, generator: new Generator(4) });
    const x = randn([2, 3, 8], { generator: new Generator(5) });
    const mask = tensor([0, 0, -1e9, 0, 0, 0], [2, 1, 1, 3]);
    assertGradCheck((xx) => block.forward(xx, mask), [x], { atol: 2e-2, rtol: 2e-2 });
  });

  it('cross-attention passes central-difference gradient checks in the image and in the text, and starts as the identity', () => {
    const xattn = new CrossAttention2d(8, 6, { groups: 4, generator: new Generator(6) });
    const h = randn([2, 8, 2, 2], { generator: new Generator(7) });
    const context = randn([2, 3, 6], { generator: new Generator(8) });
    const mask = tensor([0, 0, -1e9, 0, -1e9, -1e9], [2, 1, 3]);
    expect(Array.from(noGrad(() => xattn.forward(h, context, mask)).toArray())).to.deep.equal(Array.from(h.toArray()));
    noGrad(() => xattn.proj.weight.assign_(randn(xattn.proj.weight.shape, { generator: new Generator(9) }).mul(0.3)));
    assertGradCheck((hh, cc) => xattn.forward(hh, cc, mask), [h, context], { atol: 2e-2, rtol: 2e-2 });
    // a masked token has no effect on the output
    const other = Tensor.fromBuf(context.backend.fromArray(context.toArray().map((v, i) => (i >= 12 && i < 18 ? 5 : v))), context.shape, context.backend);
    const y1 = noGrad(() => xattn.forward(h, context, mask)).toArray();
    const y2 = noGrad(() => xattn.forward(h, other, mask)).toArray();
    // image 0's third token (values 12..17) is masked
    y1.forEach((v, i) => expect(y2[i]).to.be.closeTo(v, 1e-5));
  });
});

forEachBackend('[unit 8: conditioning] the text-conditional UNet', () => {
  const TINY: UNetConfig = { inChannels: 1, baseChannels: 8, channelMults: [1, 2], numResBlocks: 1, attnLevels: [], midAttention: true, timeFeatures: 8, timeDim: 16, groups: 4 };
  const text = { vocabSize: tok.size, maxLength: tok.maxLength, dim: 8, layers: 1, heads: 2 };

  it('has the encoder, text_proj and cross-attention at every level but the first and in the middle', () => {
    const model = createUNet(TINY, { text, generator: new Generator(1) });
    const names = model.namedParameters().map(([n]) => n);
    expect(names.some((n) => n.startsWith('down1.xattn.'))).to.equal(true);
    expect(names.some((n) => n.startsWith('up1.xattn.'))).to.equal(true);
    expect(names.some((n) => n.startsWith('mid.xattn.'))).to.equal(true);
    expect(names.some((n) => n.startsWith('down0.xattn.'))).to.equal(false);
    expect(names.some((n) => n.startsWith('text_encoder.blocks.0.qkv'))).to.equal(true);
    expect(model.conditionLength).to.equal(tok.maxLength);
    expect(() => createUNet({ ...TINY, numClasses: 3, text })).to.throw(/classes \(numClasses\) or on text, not both/);
  });

  it('untrained, any prompt reproduces the unconditional UNet of the same seed exactly; trained weights make prompts matter', () => {
    const plain = createUNet(TINY, { generator: new Generator(2) });
    const model = createUNet(TINY, { text, generator: new Generator(2) });
    const x = randn([2, 1, 8, 8], { generator: new Generator(3) });
    const t = tensor([5, 40]);
    const want = Array.from(noGrad(() => plain.forward(x, t)).toArray());
    const rows = tok.encodeBatch(['seven', 'a handwritten 3']);
    expect(Array.from(noGrad(() => model.forward(x, t)).toArray())).to.deep.equal(want);
    expect(Array.from(noGrad(() => model.forward(x, t, rows)).toArray())).to.deep.equal(want);
    // give text_proj and the cross-attention projections weights: the prompt now changes the output
    noGrad(() => {
      for (const [name, p] of model.namedParameters()) if (name.startsWith('text_proj.') || /xattn\.proj\./.test(name)) p.assign_(randn(p.shape, { generator: new Generator(4) }).mul(0.2));
    });
    const a = noGrad(() => model.forward(x, t, rows)).toArray();
    const b = noGrad(() => model.forward(x, t, tok.encodeBatch(['two', 'nine']))).toArray();
    expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])))).to.be.above(1e-4);
    // gradients reach the text encoder
    model.forward(x, t, rows).square().mean().backward();
    expect(model.textEncoder!.tokenEmb.weight.grad).to.not.equal(null);
    expect(Math.max(...Array.from(model.textEncoder!.tokenEmb.weight.grad!.toArray(), Math.abs))).to.be.above(0);
  });

  it('rejects rows of the wrong length and ids outside the vocabulary', () => {
    const model = createUNet(TINY, { text });
    const x = randn([2, 1, 8, 8]);
    expect(() => model.forward(x, [1, 2], tok.encode('seven'))).to.throw(new RegExp(`${tok.maxLength} token ids for a batch of 2 prompts of ${tok.maxLength} tokens`));
    const bad = tok.encodeBatch(['seven', 'two']);
    bad[1] = 99;
    expect(() => model.forward(x, [1, 2], bad)).to.throw(new RegExp(`token id 99 at position 1 is not in the vocabulary of ${tok.size}`));
    expect(tok.size).to.equal(28); // 25 words and the 3 special tokens
  });
});
