/**
 * The UNet that predicts the noise eps in a noisy image x_t (Ho et al. 2020, appendix B;
 * Ronneberger et al. 2015). The exact reference network "unet-tiny" is specified in
 * docs/04-nn-and-unet.md; the config generalises it (scripts/golden/unet.py builds the same
 * network in PyTorch for the golden tests).
 *
 * With L levels, ch_l = baseChannels * channelMults[l]:
 *
 *   e = time_mlp(sinusoidal(t))                       [B, timeDim]
 *   e = e + class_emb[y]                              class-conditional only (numClasses > 0)
 *   e = e + text_proj(pooled)                         text-conditional only (config.text):
 *       states, pooled = text_encoder(tokens)           the prompt's token states [B, L, D]
 *   h = conv_in(x)                                    [B, ch_0, H, W]
 *   for l = 0 .. L-1:    h = down{l}.res(h, e) (+ down{l}.attn) (+ down{l}.xattn(h, states))  -> skip s_l
 *                        h = down{l}.down(h)          stride-2 conv, not on the last level
 *   h = mid.res1(h, e), mid.attn(h), mid.res2(h, e)
 *   for l = L-1 .. 0:    h = up{l}.res([h, s_l], e) (+ up{l}.attn)  concat on channels, h first
 *                        h = up{l}.up(upsample2x(h))  not on level 0
 *   eps = out_conv(SiLU(out_norm(h)))                 [B, C, H, W]
 *
 * With numResBlocks = R > 1 each level holds R blocks, named `down{l}.res.{r}` (and
 * `down{l}.attn.{r}` after each); the skip is taken after the last one, and the up level
 * joins it before its first block. R = 1 gives exactly the reference names `down{l}.res`.
 *
 * Class conditioning (numClasses = K > 0): a table of K + 1 learned vectors, one per class
 * and a last "null" one (index K) meaning "no class given", added to the time embedding, so
 * every ResBlock's channel shift depends on the class too. Training replaces the class by
 * the null one for a share of the images, so one network learns both the conditional and
 * the unconditional prediction that classifier-free guidance mixes (diffusion/objective.ts).
 * The null row starts at zero: an untrained conditional UNet given the null class computes
 * exactly what the unconditional UNet with the same other weights computes.
 *
 * Text conditioning (config.text): a transformer text encoder (text-encoder.ts) trained with
 * the UNet turns the prompt's tokens into states that cross-attention blocks (`xattn`, after
 * each ResBlock of the crossAttnLevels and after the middle's attention) read, as Stable
 * Diffusion's UNet does; its pooled [CLS] state is also added to the time embedding through
 * `text_proj`. The null condition is the empty prompt. `text_proj` and every `xattn.proj`
 * start at zero and all text modules are drawn after the rest, so an untrained text-
 * conditional UNet computes exactly what the unconditional one of the same seed computes.
 */
import { concat } from '../ops';
import { Generator } from '../random';
import { Tensor } from '../tensor';
import { noGrad } from '../autograd';
import { CrossAttention2d, SelfAttention2d } from './attention';
import { Conv2d, Embedding, GroupNorm, Linear, SiLU } from './layers';
import { CLS } from '../text/tokenizer';
import { TextEncoder, validateTextEncoderConfig, type TextEncoderConfig, type TextEncoding } from './text-encoder';
import { Module, ModuleList, Sequential } from './module';
import { ResBlock } from './resblock';
import { sinusoidalEmbedding } from './time-embedding';

export interface UNetConfig {
  /** image channels (1 for MNIST, 3 for CIFAR-10) */
  inChannels: number;
  /** channels of level 0 */
  baseChannels: number;
  /** channels of level l = baseChannels * channelMults[l]; its length is the number of levels */
  channelMults: number[];
  /** ResBlocks per level */
  numResBlocks: number;
  /** levels whose blocks are followed by self-attention (down and up path) */
  attnLevels: number[];
  /** self-attention between the two middle ResBlocks */
  midAttention: boolean;
  /** size of the sinusoidal features of t (even) */
  timeFeatures: number;
  /** size of the time embedding e that every ResBlock receives */
  timeDim: number;
  /** GroupNorm groups (every channel count must divide by it) */
  groups: number;
  /** class-conditional with this many classes (plus a null class); 0 or absent = unconditional */
  numClasses?: number;
  /** text-conditional: the text encoder trained with the UNet (absent = no text) */
  text?: TextEncoderConfig;
  /** text-conditional: levels whose blocks are followed by cross-attention to the text (default: every level but the first) */
  crossAttnLevels?: number[];
}

/** Named configurations. `unet-tiny` is the reference network of docs/04-nn-and-unet.md (793,697 parameters for 1 channel). */
export const UNET_PRESETS: Readonly<Record<string, Readonly<UNetConfig>>> = {
  'unet-tiny': {
    inChannels: 1,
    baseChannels: 32,
    channelMults: [1, 2, 2],
    numResBlocks: 1,
    attnLevels: [],
    midAttention: true,
    timeFeatures: 32,
    timeDim: 128,
    groups: 8,
  },
  /** Half the width (about a quarter of the parameters): for tests and quick CPU runs. */
  'unet-mini': {
    inChannels: 1,
    baseChannels: 16,
    channelMults: [1, 2, 2],
    numResBlocks: 1,
    attnLevels: [],
    midAttention: true,
    timeFeatures: 16,
    timeDim: 64,
    groups: 8,
  },
  /**
   * unet-tiny without its 7x7 level, for 14x14 images (the first stage of the two-stage
   * generator, `train --image-size 14`): 32 channels at 14x14, 64 at 7x7 with the middle's attention.
   */
  'unet-14': {
    inChannels: 1,
    baseChannels: 32,
    channelMults: [1, 2],
    numResBlocks: 1,
    attnLevels: [],
    midAttention: true,
    timeFeatures: 32,
    timeDim: 128,
    groups: 8,
  },
  // for the 4x7x7 latents of the autoencoder (src/vae/): one level (7 does not halve evenly),
  // self-attention over its 49 positions and in the middle
  'unet-latent': {
    inChannels: 4,
    baseChannels: 64,
    channelMults: [1],
    numResBlocks: 1,
    attnLevels: [0],
    midAttention: true,
    timeFeatures: 32,
    timeDim: 128,
    groups: 8,
  },
};

/** Check a config field by field; errors name the field and what it should be. */
export function validateUNetConfig(config: UNetConfig): UNetConfig {
  const c = config as unknown as Record<string, unknown>;
  if (typeof config !== 'object' || config === null) throw new Error(`UNet: config must be an object, got ${config}`);
  const posInt = (k: keyof UNetConfig) => {
    const v = c[k];
    if (!(Number.isInteger(v) && (v as number) > 0)) throw new Error(`UNet config: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
  };
  (['inChannels', 'baseChannels', 'numResBlocks', 'timeFeatures', 'timeDim', 'groups'] as const).forEach(posInt);
  const mults = c.channelMults;
  if (!Array.isArray(mults) || mults.length === 0 || !mults.every((m) => Number.isInteger(m) && m > 0)) {
    throw new Error(`UNet config: channelMults must be a non-empty list of positive integers, got ${JSON.stringify(mults)}`);
  }
  const attn = c.attnLevels;
  if (!Array.isArray(attn) || !attn.every((l) => Number.isInteger(l) && l >= 0 && l < mults.length)) {
    throw new Error(`UNet config: attnLevels must list level numbers in [0, ${mults.length - 1}], got ${JSON.stringify(attn)}`);
  }
  if (typeof c.midAttention !== 'boolean') throw new Error(`UNet config: midAttention must be true or false, got ${JSON.stringify(c.midAttention)}`);
  if (config.timeFeatures % 2 !== 0) throw new Error(`UNet config: timeFeatures must be even (half sin, half cos), got ${config.timeFeatures}`);
  if (c.numClasses !== undefined && !(Number.isInteger(c.numClasses) && (c.numClasses as number) >= 0)) {
    throw new Error(`UNet config: numClasses must be an integer >= 0 (0 = unconditional), got ${JSON.stringify(c.numClasses)}`);
  }
  if (c.text !== undefined) {
    validateTextEncoderConfig(config.text!);
    if (config.numClasses) throw new Error('UNet config: a UNet is conditioned on classes (numClasses) or on text, not both');
    const x = c.crossAttnLevels;
    if (x !== undefined && !(Array.isArray(x) && x.every((l) => Number.isInteger(l) && l >= 0 && l < mults.length))) {
      throw new Error(`UNet config: crossAttnLevels must list level numbers in [0, ${mults.length - 1}], got ${JSON.stringify(x)}`);
    }
  }
  for (const m of mults) {
    const ch = config.baseChannels * m;
    if (ch % config.groups !== 0) throw new Error(`UNet config: ${ch} channels (baseChannels ${config.baseChannels} x ${m}) do not divide into ${config.groups} groups`);
  }
  return config;
}

export interface UNetOptions {
  /** where the initial weights come from (default: the default generator) */
  generator?: Generator;
}

/** One resolution of the UNet: its ResBlocks (each maybe followed by attention) and its resampling conv. */
export class UNetLevel extends Module {
  /** the blocks as [ResBlock, attention or null] pairs, in order */
  readonly blocks: [ResBlock, SelfAttention2d | null][] = [];
  /** `down`: stride-2 conv (down path); `up`: conv after nearest upsampling (up path) */
  resample: Conv2d | null = null;
  /** cross-attention to the text after each block (text-conditional levels only) */
  crossAttention: CrossAttention2d[] = [];

  constructor(inChannels: number, channels: number, numBlocks: number, attention: boolean, cfg: UNetConfig, generator?: Generator) {
    super();
    const opts = { groups: cfg.groups, generator };
    const res: ResBlock[] = [];
    const attn: SelfAttention2d[] = [];
    for (let r = 0; r < numBlocks; r++) {
      res.push(new ResBlock(r === 0 ? inChannels : channels, channels, cfg.timeDim, opts));
      if (attention) attn.push(new SelfAttention2d(channels, opts));
    }
    // one block: `res` and `attn` directly (the reference names); several: `res.0`, `res.1`, ...
    this.registerModule('res', numBlocks === 1 ? res[0] : new ModuleList(res));
    if (attention) this.registerModule('attn', numBlocks === 1 ? attn[0] : new ModuleList(attn));
    res.forEach((block, r) => this.blocks.push([block, attention ? attn[r] : null]));
  }

  setResample(name: 'down' | 'up', conv: Conv2d): void {
    this.resample = this.registerModule(name, conv);
  }

  /** One cross-attention block after each ResBlock (`xattn`, or `xattn.{r}` with several). */
  setCrossAttention(blocks: CrossAttention2d[]): void {
    this.crossAttention = blocks;
    this.registerModule('xattn', blocks.length === 1 ? blocks[0] : new ModuleList(blocks));
  }

  /** h [B, cin, H, W] -> [B, channels, H, W] through every block */
  forward(h: Tensor, e: Tensor, text?: TextEncoding): Tensor {
    this.blocks.forEach(([res, attn], r) => {
      h = res.forward(h, e);
      if (attn) h = attn.forward(h);
      if (text && this.crossAttention[r]) h = this.crossAttention[r].forward(h, text.states, text.mask);
    });
    return h;
  }
}

/** The middle of the UNet, at the lowest resolution: ResBlock, attention, ResBlock. */
export class UNetMiddle extends Module {
  readonly res1: ResBlock;
  readonly attn: SelfAttention2d | null;
  readonly res2: ResBlock;
  crossAttention: CrossAttention2d | null = null;

  constructor(channels: number, cfg: UNetConfig, generator?: Generator) {
    super();
    const opts = { groups: cfg.groups, generator };
    this.res1 = this.registerModule('res1', new ResBlock(channels, channels, cfg.timeDim, opts));
    this.attn = cfg.midAttention ? this.registerModule('attn', new SelfAttention2d(channels, opts)) : null;
    this.res2 = this.registerModule('res2', new ResBlock(channels, channels, cfg.timeDim, opts));
  }

  setCrossAttention(block: CrossAttention2d): void {
    this.crossAttention = this.registerModule('xattn', block);
  }

  forward(h: Tensor, e: Tensor, text?: TextEncoding): Tensor {
    h = this.res1.forward(h, e);
    if (this.attn) h = this.attn.forward(h);
    if (text && this.crossAttention) h = this.crossAttention.forward(h, text.states, text.mask);
    return this.res2.forward(h, e);
  }
}

export class UNet extends Module {
  readonly config: UNetConfig;
  /** ch_l for each level */
  readonly channels: number[];
  readonly timeMlp: Sequential;
  readonly convIn: Conv2d;
  /** down0 .. down{L-1} */
  readonly downs: UNetLevel[] = [];
  readonly mid: UNetMiddle;
  /** up{L-1} .. up0, in the order they run */
  readonly ups: UNetLevel[] = [];
  readonly outNorm: GroupNorm;
  readonly outConv: Conv2d;
  /** [numClasses + 1, timeDim]: one vector per class, the last one the null class (class-conditional only) */
  readonly classEmb: Embedding | null;
  /** numClasses (0 = unconditional); the null class's index when conditional */
  readonly numClasses: number;
  /** text-conditional only: the text encoder and the map of its pooled state into the time embedding */
  readonly textEncoder: TextEncoder | null = null;
  readonly textProj: Linear | null = null;

  constructor(config: UNetConfig, opts: UNetOptions = {}) {
    super();
    const cfg = validateUNetConfig({
      ...config, channelMults: [...config.channelMults], attnLevels: [...config.attnLevels],
      ...(config.text ? { text: { ...config.text } } : {}), ...(config.crossAttnLevels ? { crossAttnLevels: [...config.crossAttnLevels] } : {}),
    });
    this.config = cfg;
    const g = opts.generator;
    const init = { generator: g };
    const ch = cfg.channelMults.map((m) => cfg.baseChannels * m);
    const L = ch.length;
    this.channels = ch;

    // registration order = the order of docs/04-nn-and-unet.md and of scripts/golden/unet.py
    this.timeMlp = this.registerModule(
      'time_mlp',
      new Sequential(new Linear(cfg.timeFeatures, cfg.timeDim, init), new SiLU(), new Linear(cfg.timeDim, cfg.timeDim, init)),
    );
    this.convIn = this.registerModule('conv_in', new Conv2d(cfg.inChannels, ch[0], 3, { padding: 1, ...init }));
    for (let l = 0; l < L; l++) {
      const level = this.registerModule(`down${l}`, new UNetLevel(l === 0 ? ch[0] : ch[l - 1], ch[l], cfg.numResBlocks, cfg.attnLevels.includes(l), cfg, g));
      if (l < L - 1) level.setResample('down', new Conv2d(ch[l], ch[l], 3, { stride: 2, padding: 1, ...init }));
      this.downs.push(level);
    }
    this.mid = this.registerModule('mid', new UNetMiddle(ch[L - 1], cfg, g));
    for (let l = L - 1; l >= 0; l--) {
      const below = l === L - 1 ? ch[L - 1] : ch[l + 1]; // channels of h arriving from the level below
      const level = this.registerModule(`up${l}`, new UNetLevel(below + ch[l], ch[l], cfg.numResBlocks, cfg.attnLevels.includes(l), cfg, g));
      if (l > 0) level.setResample('up', new Conv2d(ch[l], ch[l], 3, { padding: 1, ...init }));
      this.ups.push(level);
    }
    this.outNorm = this.registerModule('out_norm', new GroupNorm(cfg.groups, ch[0]));
    this.outConv = this.registerModule('out_conv', new Conv2d(ch[0], cfg.inChannels, 3, { padding: 1, ...init }));
    // last, so the other weights are drawn exactly as in the unconditional network of the same seed
    this.numClasses = cfg.numClasses ?? 0;
    this.classEmb = this.numClasses > 0 ? this.registerModule('class_emb', new Embedding(this.numClasses + 1, cfg.timeDim, { zeroRow: this.numClasses, ...init })) : null;
    if (cfg.text) {
      const dim = cfg.text.dim;
      this.textEncoder = this.registerModule('text_encoder', new TextEncoder(cfg.text, { generator: g }));
      this.textProj = this.registerModule('text_proj', new Linear(dim, cfg.timeDim, init));
      const levels = cfg.crossAttnLevels ?? ch.map((_, l) => l).filter((l) => l > 0);
      const xattn = (channels: number) => new CrossAttention2d(channels, dim, { groups: cfg.groups, generator: g });
      for (const level of [...this.downs, ...this.ups]) {
        const l = this.downs.includes(level) ? this.downs.indexOf(level) : L - 1 - this.ups.indexOf(level);
        if (levels.includes(l)) level.setCrossAttention(level.blocks.map(() => xattn(ch[l])));
      }
      this.mid.setCrossAttention(xattn(ch[L - 1]));
      noGrad(() => {
        this.textProj!.weight.assign_(this.textProj!.weight.zerosLike());
        this.textProj!.bias!.assign_(this.textProj!.bias!.zerosLike());
      });
    }
  }

  /** Ids per image of the condition: 1 (a class), the text encoder's row length (a prompt), 0 (none). */
  get conditionLength(): number {
    return this.textEncoder ? this.textEncoder.config.maxLength : this.numClasses > 0 ? 1 : 0;
  }

  /** The null condition of n images: the null class, or the empty prompt ([CLS] then [PAD]s). */
  nullCondition(n: number): Int32Array {
    const k = this.conditionLength;
    if (k === 0) throw new Error('UNet: an unconditional network has no null condition');
    if (!this.textEncoder) return new Int32Array(n).fill(this.numClasses);
    const out = new Int32Array(n * k);
    for (let i = 0; i < n; i++) out[i * k] = CLS;
    return out;
  }

  /** e = time_mlp(sinusoidal(t)): timesteps [B] -> [B, timeDim] */
  timeEmbedding(t: Tensor): Tensor {
    return this.timeMlp.forward(sinusoidalEmbedding(t, this.config.timeFeatures));
  }

  /**
   * x_t [B, C, H, W], timesteps t [B] (floats) and, for a conditional UNet, the condition of
   * each image: its class (numClasses = the null class), or its prompt's row of token ids
   * ([B * maxLength]); absent = the null condition -> the prediction [B, C, H, W] (eps, or v
   * or x_0 when trained so: see diffusion/objective.ts)
   */
  forward(x: Tensor, t: Tensor | ArrayLike<number>, condition?: ArrayLike<number>): Tensor {
    const steps = t instanceof Tensor ? t : Tensor.fromBuf(x.backend.fromArray(Float32Array.from(t)), [t.length], x.backend);
    this.checkInputs(x, steps, condition);
    let e = this.timeEmbedding(steps); // [B, timeDim]
    const cond = condition ?? (this.conditionLength > 0 ? this.nullCondition(x.shape[0]) : undefined);
    if (this.classEmb) e = e.add(this.classEmb.forward(cond!));
    let text: TextEncoding | undefined;
    if (this.textEncoder) {
      text = this.textEncoder.forward(cond!); // states [B, L, D], pooled [B, D]
      e = e.add(this.textProj!.forward(text.pooled));
    }
    let h = this.convIn.forward(x); // [B, ch_0, H, W]
    const skips: Tensor[] = [];
    for (const level of this.downs) {
      h = level.forward(h, e, text);
      skips.push(h); // s_l
      if (level.resample) h = level.resample.forward(h); // H -> H/2
    }
    h = this.mid.forward(h, e, text);
    for (const level of this.ups) {
      h = concat([h, skips.pop()!], 1); // [h, s_l] along channels
      h = level.forward(h, e, text);
      if (level.resample) h = level.resample.forwardUpsampled(h); // conv(upsample2x(h)): H -> 2H
    }
    return this.outConv.forward(this.outNorm.forward(h).silu());
  }

  private checkInputs(x: Tensor, t: Tensor, labels?: ArrayLike<number>): void {
    const { inChannels } = this.config;
    const L = this.channels.length;
    const factor = 2 ** (L - 1);
    if (x.ndim !== 4 || x.shape[1] !== inChannels) throw new Error(`UNet: input must be [B, ${inChannels}, H, W], got [${x.shape}]`);
    const [b, , hh, ww] = x.shape;
    if (hh % factor !== 0 || ww % factor !== 0) {
      throw new Error(`UNet: height and width must divide by ${factor} (${L} levels, each but the last halves them), got ${hh}x${ww}`);
    }
    if (t.ndim !== 1 || t.shape[0] !== b) throw new Error(`UNet: timesteps must be [${b}] (one per image), got [${t.shape}]`);
    if (labels === undefined) return;
    if (this.textEncoder) {
      const { maxLength, vocabSize } = this.textEncoder.config;
      if (labels.length !== b * maxLength) throw new Error(`UNet: ${labels.length} token ids for a batch of ${b} prompts of ${maxLength} tokens`);
      for (let i = 0; i < labels.length; i++) {
        const id = labels[i];
        if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) throw new Error(`UNet: token id ${id} at position ${i} is not in the vocabulary of ${vocabSize}`);
      }
      return;
    }
    if (this.numClasses === 0) throw new Error('UNet: class labels were given to an unconditional network (numClasses 0)');
    if (labels.length !== b) throw new Error(`UNet: ${labels.length} class labels for a batch of ${b}`);
    for (let i = 0; i < b; i++) {
      const y = labels[i];
      if (!(Number.isInteger(y) && y >= 0 && y <= this.numClasses)) throw new Error(`UNet: class label ${y} at position ${i} is not an integer in [0, ${this.numClasses}] (${this.numClasses} = the null class)`);
    }
  }
}

/**
 * Build a UNet from a preset name (see UNET_PRESETS) or a full config;
 * `inChannels` overrides the preset's (3 for CIFAR-10); `numClasses` > 0 makes it class-conditional.
 */
export function createUNet(presetOrConfig: string | UNetConfig, opts: UNetOptions & { inChannels?: number; numClasses?: number; text?: TextEncoderConfig } = {}): UNet {
  let config: UNetConfig;
  if (typeof presetOrConfig === 'string') {
    const preset = UNET_PRESETS[presetOrConfig];
    if (!preset) throw new Error(`createUNet: unknown preset '${presetOrConfig}'; valid presets: ${Object.keys(UNET_PRESETS).join(', ')}`);
    config = { ...preset, channelMults: [...preset.channelMults], attnLevels: [...preset.attnLevels] };
  } else {
    config = { ...presetOrConfig };
  }
  if (opts.inChannels !== undefined) config.inChannels = opts.inChannels;
  if (opts.numClasses) config.numClasses = opts.numClasses;
  if (opts.text) config.text = { ...opts.text };
  return new UNet(config, { generator: opts.generator });
}

