/**
 * A small transformer text encoder (Vaswani et al. 2017; the pre-LayerNorm block of GPT-2
 * and of CLIP's text tower, Radford et al. 2021).
 *
 *   tokens [B, L] (ids; 0 = [PAD], position 0 = [CLS])
 *   x = token_emb[tokens] + pos_emb[0..L-1]                         [B, L, D]
 *   for each block:  x = x + attn(LN1(x))      self-attention, [PAD] keys masked out
 *                    x = x + mlp(LN2(x))       Linear(D, 4D) -> GELU -> Linear(4D, D)
 *   states = LN_final(x)                                             [B, L, D]
 *   pooled = states[:, 0]   the [CLS] token's state                  [B, D]
 *
 * Stable Diffusion's UNet reads `states` through cross-attention; `pooled` is what a CLIP-
 * style score compares with an image vector, and what our UNet adds to its time embedding.
 */
import { Generator } from '../random';
import { Tensor } from '../tensor';
import { InitOptions } from './init';
import { Embedding, LayerNorm, Linear } from './layers';
import { Module, ModuleList } from './module';
import { attention, paddingMask } from './attention';

export interface TransformerBlockOptions extends InitOptions {
  heads?: number;
}

/** Pre-LN transformer block: x + MHA(LN(x)), then x + MLP(LN(x)). */
export class TransformerBlock extends Module {
  readonly ln1: LayerNorm;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly ln2: LayerNorm;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly heads: number;

  constructor(readonly dim: number, opts: TransformerBlockOptions = {}) {
    super();
    this.heads = opts.heads ?? 4;
    if (dim % this.heads !== 0) throw new Error(`TransformerBlock: dim ${dim} does not divide into ${this.heads} heads`);
    const init = { generator: opts.generator };
    this.ln1 = this.registerModule('ln1', new LayerNorm(dim));
    this.qkv = this.registerModule('qkv', new Linear(dim, 3 * dim, init));
    this.proj = this.registerModule('proj', new Linear(dim, dim, init));
    this.ln2 = this.registerModule('ln2', new LayerNorm(dim));
    this.fc1 = this.registerModule('fc1', new Linear(dim, 4 * dim, init));
    this.fc2 = this.registerModule('fc2', new Linear(4 * dim, dim, init));
  }

  /** x [B, L, D], mask [B, 1, 1, L] (additive) -> [B, L, D] */
  forward(x: Tensor, mask?: Tensor): Tensor {
    const [b, len, d] = x.shape;
    const hd = d / this.heads;
    const qkv = this.qkv.forward(this.ln1.forward(x)); // [B, L, 3D]
    // [B, L, D] -> [B, heads, L, hd]
    const split = (i: number) => qkv.slice(2, i * d, (i + 1) * d).reshape([b, len, this.heads, hd]).permute([0, 2, 1, 3]);
    const heads = attention(split(0), split(1), split(2), mask); // [B, heads, L, hd]
    x = x.add(this.proj.forward(heads.permute([0, 2, 1, 3]).reshape([b, len, d])));
    return x.add(this.fc2.forward(this.fc1.forward(this.ln2.forward(x)).gelu()));
  }
}

export interface TextEncoderConfig {
  /** tokens in the vocabulary (the tokenizer's size) */
  vocabSize: number;
  /** tokens per row (the tokenizer's maxLength) */
  maxLength: number;
  /** width D of the token states */
  dim: number;
  layers: number;
  heads: number;
}

export function validateTextEncoderConfig(c: TextEncoderConfig): TextEncoderConfig {
  for (const k of ['vocabSize', 'maxLength', 'dim', 'layers', 'heads'] as const) {
    if (!(Number.isInteger(c[k]) && c[k] > 0)) throw new Error(`TextEncoder config: ${k} must be a positive integer, got ${JSON.stringify(c[k])}`);
  }
  if (c.dim % c.heads !== 0) throw new Error(`TextEncoder config: dim ${c.dim} does not divide into ${c.heads} heads`);
  return c;
}

export interface TextEncoding {
  /** the final state of every token [B, L, D] */
  states: Tensor;
  /** the [CLS] token's state [B, D] */
  pooled: Tensor;
  /** additive mask over the L tokens, [B, 1, L]: 0 for real tokens, -1e9 for [PAD] (for cross-attention) */
  mask: Tensor;
}

export class TextEncoder extends Module {
  readonly config: TextEncoderConfig;
  readonly tokenEmb: Embedding;
  readonly posEmb: Embedding;
  readonly blocks: TransformerBlock[];
  readonly lnFinal: LayerNorm;

  constructor(config: TextEncoderConfig, opts: { generator?: Generator } = {}) {
    super();
    const c = (this.config = validateTextEncoderConfig({ ...config }));
    const init = { generator: opts.generator };
    this.tokenEmb = this.registerModule('token_emb', new Embedding(c.vocabSize, c.dim, { ...init, std: 0.02 }));
    this.posEmb = this.registerModule('pos_emb', new Embedding(c.maxLength, c.dim, { ...init, std: 0.02 }));
    this.blocks = Array.from({ length: c.layers }, () => new TransformerBlock(c.dim, { heads: c.heads, ...init }));
    this.registerModule('blocks', new ModuleList(this.blocks));
    this.lnFinal = this.registerModule('ln_final', new LayerNorm(c.dim));
  }

  /** tokens: B rows of maxLength ids, concatenated ([B * L]) */
  forward(tokens: ArrayLike<number>): TextEncoding {
    const { maxLength: len, dim } = this.config;
    if (tokens.length % len !== 0 || tokens.length === 0) throw new Error(`TextEncoder: ${tokens.length} token ids are not whole rows of ${len}`);
    const b = tokens.length / len;
    const positions = Int32Array.from({ length: tokens.length }, (_, i) => i % len);
    let x = this.tokenEmb.forward(tokens).add(this.posEmb.forward(positions)).reshape([b, len, dim]);
    const like = x;
    const headMask = paddingMask(tokens, b, like, true);
    for (const block of this.blocks) x = block.forward(x, headMask);
    const states = this.lnFinal.forward(x);
    return { states, pooled: states.select(1, 0), mask: paddingMask(tokens, b, like) };
  }
}
