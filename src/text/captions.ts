/**
 * Captions made from class labels: the text a text-conditioned model is trained on.
 *
 * Stable Diffusion learns from image-caption pairs. Our datasets have labels, not captions,
 * so each label is written out in several ways ("seven", "7", "the digit seven", "a
 * handwritten 7", ...), and training draws one of them per image. The text encoder then has
 * to learn that "7" and "seven" mean the same thing, which a class embedding never has to.
 */

const DIGIT_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

/** Templates for digit classes: {w} = the word ("seven"), {d} = the numeral ("7"). */
export const DIGIT_TEMPLATES: readonly string[] = [
  '{w}', '{d}', 'the digit {w}', 'the digit {d}', 'a handwritten {d}', 'a handwritten {w}', 'the number {w}', 'a {w}',
];

/** Templates for named classes (Fashion-MNIST, CIFAR-10): {n} = the class name, lowercased. */
export const NAME_TEMPLATES: readonly string[] = ['{n}', 'a {n}', 'a photo of a {n}', 'a picture of a {n}', 'a small {n}'];

/** The captions of each class: captions[k] lists the ways of saying class k. */
export type CaptionSet = string[][];

/**
 * Captions for a dataset's classes from its class names: digits '0'..'9' get the digit
 * templates, other names the name templates ("Ankle boot" -> "ankle boot", "a ankle boot"
 * is left as is: the captions are for a word-level model, not for reading).
 */
export function captionsForClasses(classNames: readonly string[]): CaptionSet {
  if (classNames.length === 0) throw new Error('captionsForClasses: no class names');
  return classNames.map((name) => {
    const digit = /^[0-9]$/.test(name) ? Number(name) : -1;
    if (digit >= 0) return DIGIT_TEMPLATES.map((t) => t.replace('{w}', DIGIT_WORDS[digit]).replace('{d}', name));
    const n = name.toLowerCase().replace(/\//g, ' or ');
    return NAME_TEMPLATES.map((t) => t.replace('{n}', n));
  });
}

/** Every caption of a set, once, in class order (to build a vocabulary from). */
export function allCaptions(set: CaptionSet): string[] {
  return [...new Set(set.flat())];
}
