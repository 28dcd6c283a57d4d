/**
 * What a conditional run tells the UNet about each image, as the rows of ids its forward
 * takes: a class per image (`--condition class`), or a tokenized caption per image
 * (`--condition text`). Both drop the condition to the null one for a share of the training
 * images (classifier-free guidance, Ho & Salimans 2021), and both can be asked for a class
 * when sampling; text can also be asked for any prompt made of known words.
 */
import { Generator } from '../random';
import { allCaptions, captionsForClasses, type CaptionSet } from '../text/captions';
import { Tokenizer, words, type TokenizerState } from '../text/tokenizer';
import type { ImageDataset } from '../data/dataset';
import { MNIST_CLASS_NAMES } from '../data/dataset';

export type ConditionKind = 'none' | 'class' | 'text';
export const CONDITION_KINDS: readonly ConditionKind[] = ['class', 'text', 'none'];

/**
 * Where a text-conditional run's text encoder starts: a CLIP text tower kept frozen ('clip',
 * as Stable Diffusion keeps its CLIP text encoder), the same trained on with the UNet
 * ('clip-tuned'), or random weights trained with the UNet ('scratch').
 */
export type TextEncoderStart = 'clip' | 'clip-tuned' | 'scratch';
export const TEXT_ENCODER_STARTS: readonly TextEncoderStart[] = ['clip', 'clip-tuned', 'scratch'];

/**
 * Replace each class by the null class (index numClasses) with probability p, drawing one
 * uniform number per image (classifier-free guidance's training, Ho & Salimans 2021).
 */
export function dropLabels(labels: Int32Array, p: number, numClasses: number, generator: Generator): Int32Array {
  return labels.map((y) => (generator.uniform() < p ? numClasses : y));
}

/** Balanced classes for n samples: 0, 1, ..., K-1, 0, 1, ... (a grid with K columns shows one class per column). */
export function balancedLabels(n: number, numClasses: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i % numClasses);
}

/** What a checkpoint of a text-conditional run stores to rebuild its conditioner. */
export interface TextConditionState {
  tokenizer: TokenizerState;
  captions: CaptionSet;
}

export interface Conditioner {
  readonly kind: 'class' | 'text';
  readonly numClasses: number;
  /** ids per image: 1 (a class) or the tokenizer's row length */
  readonly length: number;
  /** training: the rows for a batch's labels, each dropped to the null condition with probability p */
  training(labels: Int32Array, p: number, generator: Generator): Int32Array;
  /** sampling: rows that ask for these classes */
  forClasses(classes: Int32Array): Int32Array;
}

export class ClassConditioner implements Conditioner {
  readonly kind = 'class';
  readonly length = 1;
  constructor(readonly numClasses: number) {}
  training(labels: Int32Array, p: number, generator: Generator): Int32Array {
    return dropLabels(labels, p, this.numClasses, generator);
  }
  forClasses(classes: Int32Array): Int32Array {
    return classes.slice();
  }
}

/**
 * Captions from the class names (src/text/captions.ts), one drawn per image and step, and
 * the word-level tokenizer built from all of them.
 */
export class TextConditioner implements Conditioner {
  readonly kind = 'text';
  readonly tokenizer: Tokenizer;
  readonly captions: CaptionSet;

  constructor(state: TextConditionState) {
    this.tokenizer = new Tokenizer(state.tokenizer);
    this.captions = state.captions.map((c) => c.slice());
    if (this.captions.some((c) => c.length === 0)) throw new Error('TextConditioner: every class needs at least one caption');
  }

  /** The conditioner of a dataset: captions from its class names (MNIST's digits when it has none). */
  static forDataset(ds: Pick<ImageDataset, 'numClasses' | 'classNames'>): TextConditioner {
    const names = ds.classNames ?? (ds.numClasses === 10 ? [...MNIST_CLASS_NAMES] : Array.from({ length: ds.numClasses }, (_, k) => `class ${k}`));
    const captions = captionsForClasses(names);
    return new TextConditioner({ tokenizer: Tokenizer.fromTexts(allCaptions(captions)).state(), captions });
  }

  get numClasses(): number {
    return this.captions.length;
  }

  get length(): number {
    return this.tokenizer.maxLength;
  }

  state(): TextConditionState {
    return { tokenizer: this.tokenizer.state(), captions: this.captions.map((c) => c.slice()) };
  }

  /** Per image: one uniform draw (< p: the empty prompt), else one caption of its class drawn uniformly. */
  training(labels: Int32Array, p: number, generator: Generator): Int32Array {
    const texts = Array.from(labels, (y) => {
      if (generator.uniform() < p) return '';
      const options = this.captions[y];
      return options[generator.randint(options.length)];
    });
    return this.tokenizer.encodeBatch(texts);
  }

  /** Each class's first caption ("seven", "ankle boot"). */
  forClasses(classes: Int32Array): Int32Array {
    return this.tokenizer.encodeBatch(Array.from(classes, (k) => this.captions[k][0]));
  }

  /** Rows for prompts; an unknown word fails with the nearest known words (Tokenizer.encode). */
  forPrompts(prompts: readonly string[]): Int32Array {
    return this.tokenizer.encodeBatch(prompts);
  }

  /** The class whose captions include this prompt (same words), or null. */
  classOfPrompt(prompt: string): number | null {
    const key = words(prompt).join(' ');
    const k = this.captions.findIndex((c) => c.some((caption) => words(caption).join(' ') === key));
    return k < 0 ? null : k;
  }
}
