/**
 * A CLIP-style model at our scale (Radford et al. 2021): an image encoder and a text encoder
 * that map a digit and its caption to nearby unit vectors, trained contrastively. Its score,
 * the cosine similarity of a generated image and its prompt, is the second number (after
 * FID) by which text-to-image models are judged.
 *
 *   image x [B, 1, 28, 28] -> SmallCnn.features (the classifier's trunk) -> Linear -> unit vector  [B, E]
 *   text  tokens [B, L]    -> TextEncoder pooled [CLS] state            -> Linear -> unit vector  [B, E]
 *   logits = exp(s) * img @ txt^T                                    [B, B], s learned (CLIP: s0 = log(1/0.07), exp(s) <= 100)
 *   loss   = ( CE(logits, diag) + CE(logits^T, diag) ) / 2           symmetric InfoNCE (van den Oord et al. 2018)
 *
 * Row i of the logits asks "which of the B captions is image i's?", column j "which image is
 * caption j's?"; the answer is the diagonal. A batch must therefore hold one image per class
 * (two sevens would make two right answers): training draws groups of one image per class.
 */
import { fromArray } from '../creation';
import { crossEntropy } from '../ops/loss';
import { Generator } from '../random';
import { Tensor } from '../tensor';
import { SmallCnn, validateClassifierConfig, type ClassifierConfig } from '../classifier/model';
import { Linear } from '../nn/layers';
import { Module } from '../nn/module';
import { TextEncoder, validateTextEncoderConfig, type TextEncoderConfig } from '../nn/text-encoder';

export interface ClipConfig {
  /** the image trunk (its `head` is unused: the features go to `image_proj`) */
  image: ClassifierConfig;
  text: TextEncoderConfig;
  /** size of the shared embedding */
  embedDim: number;
}

/** CLIP's initial temperature 0.07 and its cap on exp(s) of 100. */
export const INITIAL_LOGIT_SCALE = Math.log(1 / 0.07);
export const MAX_LOGIT_SCALE = Math.log(100);

/** x / ||x|| along the last axis. */
export function normalizeRows(x: Tensor): Tensor {
  return x.div(x.square().sum(-1, true).add(1e-12).sqrt());
}

export class ClipModel extends Module {
  readonly config: ClipConfig;
  readonly image: SmallCnn;
  readonly imageProj: Linear;
  readonly text: TextEncoder;
  readonly textProj: Linear;
  /** s, with the logits scaled by exp(s) */
  readonly logitScale: Tensor;

  constructor(config: ClipConfig, opts: { generator?: Generator } = {}) {
    super();
    validateClassifierConfig(config.image);
    validateTextEncoderConfig(config.text);
    if (!(Number.isInteger(config.embedDim) && config.embedDim > 0)) throw new Error(`ClipModel: embedDim must be a positive integer, got ${config.embedDim}`);
    this.config = { image: { ...config.image, channels: [...config.image.channels] as [number, number] }, text: { ...config.text }, embedDim: config.embedDim };
    const g = opts.generator;
    this.image = this.registerModule('image', new SmallCnn(this.config.image, { generator: g }));
    this.imageProj = this.registerModule('image_proj', new Linear(config.image.featureDim, config.embedDim, { bias: false, generator: g }));
    this.text = this.registerModule('text', new TextEncoder(this.config.text, { generator: g }));
    this.textProj = this.registerModule('text_proj', new Linear(config.text.dim, config.embedDim, { bias: false, generator: g }));
    this.logitScale = this.registerParameter('logit_scale', fromArray(Float32Array.of(INITIAL_LOGIT_SCALE), [1]));
  }

  /** images [B, C, S, S] in [-1, 1] -> unit vectors [B, embedDim] */
  encodeImages(x: Tensor): Tensor {
    return normalizeRows(this.imageProj.forward(this.image.features(x)));
  }

  /** B rows of token ids ([B * maxLength]) -> unit vectors [B, embedDim] */
  encodeTexts(tokens: ArrayLike<number>): Tensor {
    return normalizeRows(this.textProj.forward(this.text.forward(tokens).pooled));
  }

  /** Symmetric InfoNCE of B matched pairs (image i with text i) of unit vectors [B, E]. */
  contrastiveLoss(images: Tensor, texts: Tensor): Tensor {
    const b = images.shape[0];
    const scale = this.logitScale.clamp(-Infinity, MAX_LOGIT_SCALE).exp();
    const logits = images.matmul(texts.transpose(0, 1)).mul(scale); // [B, B]
    const diagonal = Int32Array.from({ length: b }, (_, i) => i);
    return crossEntropy(logits, diagonal).add(crossEntropy(logits.transpose(0, 1), diagonal)).mul(0.5);
  }
}

/** Cosine similarity of matched rows of two sets of unit vectors [N, E] -> N numbers. */
export function rowCosines(a: Tensor, b: Tensor): Float32Array {
  const prod = a.mul(b).sum(-1).toArray();
  return Float32Array.from(prod);
}
