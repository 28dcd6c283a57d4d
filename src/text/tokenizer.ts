/**
 * A word-level tokenizer: text -> a fixed-length row of token ids, and back.
 *
 * Stable Diffusion's CLIP tokenizer splits text into byte-pair pieces from a vocabulary of
 * 49,408. Our captions use a few dozen words, so a word is a token: text is lowercased and
 * split at everything that is not a letter or a digit. The vocabulary is the captions'
 * words plus three special tokens:
 *
 *   [PAD] = 0   fills a row up to maxLength; attention never looks at it
 *   [UNK] = 1   a word the vocabulary does not have (only when encoding leniently)
 *   [CLS] = 2   starts every row; its final state is the pooled text vector
 *
 * The empty text encodes to [CLS] alone: that is the "null prompt" of classifier-free
 * guidance, as Stable Diffusion uses the empty string.
 */

export const PAD = 0;
export const UNK = 1;
export const CLS = 2;
const SPECIALS = ['[PAD]', '[UNK]', '[CLS]'];

/** Lowercased words of a text: runs of letters and digits. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
}

/** Levenshtein distance (insertions, deletions, substitutions), for "did you mean". */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

export interface TokenizerState {
  vocab: string[];
  maxLength: number;
}

export class Tokenizer {
  /** id -> word; ids 0..2 are the special tokens */
  readonly vocab: string[];
  /** row length: [CLS], up to maxLength - 1 words, then [PAD]s */
  readonly maxLength: number;
  private readonly ids = new Map<string, number>();

  constructor(state: TokenizerState) {
    if (!(Number.isInteger(state.maxLength) && state.maxLength >= 2)) throw new Error(`Tokenizer: maxLength must be an integer >= 2, got ${state.maxLength}`);
    if (state.vocab.slice(0, 3).join() !== SPECIALS.join()) throw new Error(`Tokenizer: the vocabulary must start with ${SPECIALS.join(', ')}`);
    this.vocab = state.vocab.slice();
    this.maxLength = state.maxLength;
    this.vocab.forEach((w, i) => {
      if (this.ids.has(w)) throw new Error(`Tokenizer: '${w}' is twice in the vocabulary`);
      this.ids.set(w, i);
    });
  }

  /** The vocabulary of the words in `texts` (sorted, after the specials); rows long enough for the longest text. */
  static fromTexts(texts: readonly string[], maxLength?: number): Tokenizer {
    const found = [...new Set(texts.flatMap(words))].sort();
    const longest = Math.max(0, ...texts.map((t) => words(t).length));
    return new Tokenizer({ vocab: [...SPECIALS, ...found], maxLength: maxLength ?? longest + 1 });
  }

  get size(): number {
    return this.vocab.length;
  }

  /** What a checkpoint stores to rebuild this tokenizer. */
  state(): TokenizerState {
    return { vocab: this.vocab.slice(), maxLength: this.maxLength };
  }

  /** The known words closest to `word` (smallest edit distance first, at most `n`). */
  nearest(word: string, n = 3): string[] {
    return this.vocab
      .slice(SPECIALS.length)
      .map((w) => ({ w, d: editDistance(word, w) }))
      .sort((a, b) => a.d - b.d || a.w.localeCompare(b.w))
      .slice(0, n)
      .map((x) => x.w);
  }

  /**
   * One row of maxLength ids: [CLS], the words, [PAD]s. Strict (the default): an unknown word
   * or a text longer than the row throws an error that names the word, its nearest known
   * words and the vocabulary size; lenient: unknown words become [UNK] and long texts are cut.
   */
  encode(text: string, opts: { strict?: boolean } = {}): Int32Array {
    const strict = opts.strict ?? true;
    const ws = words(text);
    if (ws.length > this.maxLength - 1) {
      if (strict) throw new Error(`tokenizer: '${text}' has ${ws.length} words; the text encoder reads at most ${this.maxLength - 1}`);
      ws.length = this.maxLength - 1;
    }
    const row = new Int32Array(this.maxLength); // [PAD] = 0
    row[0] = CLS;
    ws.forEach((w, i) => {
      const id = this.ids.get(w);
      if (id === undefined && strict) {
        throw new Error(`tokenizer: unknown word '${w}' in '${text}'; nearest known words: ${this.nearest(w).join(', ')} (vocabulary of ${this.size - SPECIALS.length} words)`);
      }
      row[i + 1] = id ?? UNK;
    });
    return row;
  }

  /** Rows for many texts, concatenated: [texts.length * maxLength]. */
  encodeBatch(texts: readonly string[], opts: { strict?: boolean } = {}): Int32Array {
    const out = new Int32Array(texts.length * this.maxLength);
    texts.forEach((t, i) => out.set(this.encode(t, opts), i * this.maxLength));
    return out;
  }

  /** The words of a row, without [CLS] and [PAD] (an [UNK] reads as '[UNK]'). */
  decode(row: ArrayLike<number>): string {
    const out: string[] = [];
    for (let i = 0; i < row.length; i++) {
      const id = row[i];
      if (id === PAD || id === CLS) continue;
      if (!(Number.isInteger(id) && id >= 0 && id < this.size)) throw new Error(`tokenizer: id ${id} is not in the vocabulary of ${this.size}`);
      out.push(this.vocab[id]);
    }
    return out.join(' ');
  }

  /** The null prompt of classifier-free guidance: the empty text, [CLS] alone. */
  nullRow(): Int32Array {
    return this.encode('');
  }
}
