/**
 * A small convolutional classifier for 28x28 images (MNIST, Fashion-MNIST), the feature
 * network of our FID.
 *
 * FID (Heusel et al. 2017) compares two image sets through the activations of a fixed
 * network. The paper uses Inception-v3 trained on ImageNet; its features describe photos,
 * not 28x28 digits, so for digits we use a network trained on the digits themselves, as
 * the "classifier-based" scores of digit-generation papers do. Its penultimate layer
 * (`features`) is what FID compares; its softmax says which digit a sample looks like.
 *
 *   x [B, 1, 28, 28] in [-1, 1]
 *   conv1 3x3 (pad 1) -> ReLU -> avgPool 2     [B, 16, 14, 14]
 *   conv2 3x3 (pad 1) -> ReLU -> avgPool 2     [B, 32, 7, 7]
 *   flatten -> fc Linear -> ReLU               [B, 64]    <- features(x)
 *   head Linear                                [B, 10]    <- forward(x): logits
 *
 * Inputs are in [-1, 1], the range the DataLoader hands out and the DDPM samples in, so a
 * sample goes in exactly as the model produced it.
 */
import { avgPool2d } from '../ops';
import { Generator } from '../random';
import { Tensor } from '../tensor';
import { Conv2d, Linear } from '../nn/layers';
import { Module } from '../nn/module';

export interface ClassifierConfig {
  /** 1 for gray images */
  inChannels: number;
  /** height = width of the input; must be divisible by 4 (two 2x2 poolings) */
  imageSize: number;
  /** output channels of conv1 and conv2 */
  channels: [number, number];
  /** size of the penultimate layer: the feature vector FID uses */
  featureDim: number;
  numClasses: number;
}

/** The network shipped in assets/mnist-classifier.safetensors (105,866 parameters). */
export const DEFAULT_CLASSIFIER_CONFIG: ClassifierConfig = { inChannels: 1, imageSize: 28, channels: [16, 32], featureDim: 64, numClasses: 10 };

export function validateClassifierConfig(cfg: ClassifierConfig): void {
  const posInt = (name: string, v: unknown) => {
    if (!(Number.isInteger(v) && (v as number) >= 1)) throw new Error(`SmallCnn: ${name} must be a positive integer, got ${v}`);
  };
  posInt('inChannels', cfg.inChannels);
  posInt('imageSize', cfg.imageSize);
  if (!Array.isArray(cfg.channels) || cfg.channels.length !== 2) throw new Error(`SmallCnn: channels must be two numbers [conv1, conv2], got ${JSON.stringify(cfg.channels)}`);
  posInt('channels[0]', cfg.channels[0]);
  posInt('channels[1]', cfg.channels[1]);
  posInt('featureDim', cfg.featureDim);
  posInt('numClasses', cfg.numClasses);
  if (cfg.numClasses < 2) throw new Error(`SmallCnn: numClasses must be at least 2, got ${cfg.numClasses}`);
  if (cfg.imageSize % 4 !== 0) throw new Error(`SmallCnn: imageSize must be divisible by 4 (two 2x2 poolings), got ${cfg.imageSize}`);
}

export class SmallCnn extends Module {
  readonly config: ClassifierConfig;
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly fc: Linear;
  readonly head: Linear;

  constructor(config: ClassifierConfig = DEFAULT_CLASSIFIER_CONFIG, opts: { generator?: Generator } = {}) {
    super();
    validateClassifierConfig(config);
    this.config = { ...config, channels: [config.channels[0], config.channels[1]] };
    const { inChannels, imageSize, channels: [c1, c2], featureDim, numClasses } = this.config;
    const g = opts.generator;
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, c1, 3, { padding: 1, generator: g }));
    this.conv2 = this.registerModule('conv2', new Conv2d(c1, c2, 3, { padding: 1, generator: g }));
    const side = imageSize / 4;
    this.fc = this.registerModule('fc', new Linear(c2 * side * side, featureDim, { generator: g }));
    this.head = this.registerModule('head', new Linear(featureDim, numClasses, { generator: g }));
  }

  /** The penultimate activations [B, featureDim]: what FID compares. */
  features(x: Tensor): Tensor {
    const { inChannels, imageSize } = this.config;
    if (x.ndim !== 4 || x.shape[1] !== inChannels || x.shape[2] !== imageSize || x.shape[3] !== imageSize) {
      throw new Error(`SmallCnn: input must be [B, ${inChannels}, ${imageSize}, ${imageSize}], got [${x.shape}]`);
    }
    let h = avgPool2d(this.conv1.forward(x).relu(), 2); // [B, c1, S/2, S/2]
    h = avgPool2d(this.conv2.forward(h).relu(), 2); // [B, c2, S/4, S/4]
    return this.fc.forward(h.flatten(1)).relu(); // [B, featureDim]
  }

  /** Class logits [B, numClasses]; softmax of them is the predicted class distribution. */
  forward(x: Tensor): Tensor {
    return this.head.forward(this.features(x));
  }
}
