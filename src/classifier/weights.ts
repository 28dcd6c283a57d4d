/**
 * Classifier weights on disk: a plain safetensors file (conv1.weight, ..., head.bias) whose
 * metadata says what network it holds and where it came from, so that `loadClassifier`
 * can rebuild the network from the file alone and `eval` can say what it measured with:
 *
 *   format        tiny-ddpm-classifier
 *   architecture  SmallCnn
 *   config        {"inChannels":1,"imageSize":28,"channels":[16,32],"featureDim":64,"numClasses":10}
 *   dataset       mnist            split  train       trainImages  9000
 *   testAccuracy  0.98             testImages 1000    command      tiny-ddpm classifier ...
 */
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors } from '../checkpoint/safetensors';
import { loadModelWeights, saveModelWeights } from '../checkpoint/training';
import { SmallCnn, validateClassifierConfig, type ClassifierConfig } from './model';

export const CLASSIFIER_FORMAT = 'tiny-ddpm-classifier';

/** What a classifier file records about its training (all optional except the dataset). */
export interface ClassifierInfo {
  /** the dataset spec it was trained on ('mnist', 'fashion-mnist', ...) */
  dataset: string;
  split?: string;
  trainImages?: number;
  testAccuracy?: number;
  testImages?: number;
  epochs?: number;
  seed?: number;
  /** the command line that produced the file */
  command?: string;
  seconds?: number;
  backend?: string;
}

export function saveClassifier(file: string, model: SmallCnn, info: ClassifierInfo): void {
  const metadata: Record<string, string> = { format: CLASSIFIER_FORMAT, architecture: 'SmallCnn', config: JSON.stringify(model.config) };
  for (const [k, v] of Object.entries(info)) if (v !== undefined) metadata[k] = String(v);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  saveModelWeights(file, model, metadata);
}

export interface LoadedClassifier {
  model: SmallCnn;
  /** the file's metadata, as strings */
  metadata: Record<string, string>;
  file: string;
}

/** The network config and metadata of a classifier file, without building the network. */
export function readClassifierInfo(file: string): { config: ClassifierConfig; metadata: Record<string, string> } {
  if (!fs.existsSync(file)) throw new Error(`loadClassifier: no classifier at '${file}'`);
  const { metadata } = readSafetensors(file);
  if (metadata.format !== CLASSIFIER_FORMAT || metadata.architecture !== 'SmallCnn') {
    throw new Error(`loadClassifier: '${file}' is not a classifier file (metadata format '${metadata.format}', architecture '${metadata.architecture}'; expected '${CLASSIFIER_FORMAT}', 'SmallCnn')`);
  }
  let config: ClassifierConfig;
  try {
    config = JSON.parse(metadata.config);
  } catch {
    throw new Error(`loadClassifier: '${file}': metadata 'config' is not JSON: ${metadata.config}`);
  }
  validateClassifierConfig(config);
  return { config, metadata };
}

/** Rebuild the network a classifier file describes and load its weights (in eval mode), on the current backend. */
export function loadClassifier(file: string): LoadedClassifier {
  const { config, metadata } = readClassifierInfo(file);
  const model = new SmallCnn(config);
  loadModelWeights(file, model);
  model.eval();
  return { model, metadata, file };
}

/**
 * The classifier shipped with the package for a dataset (`assets/<dataset>-classifier.safetensors`),
 * found from this file's folder upwards, so it works from src/ (ts-node) and from dist/.
 * Returns the path even when the file does not exist (the caller says so).
 */
export function shippedClassifierPath(dataset: string): string {
  return shippedAssetPath(dataset, 'classifier');
}

/** assets/<dataset>-<what>.safetensors, found as shippedClassifierPath finds the classifier. */
export function shippedAssetPath(dataset: string, what: string): string {
  const kind = dataset.split(':')[0].toLowerCase();
  const name = `${kind === 'mnist-idx' ? 'mnist' : kind}-${what}.safetensors`; // the same digits, from IDX files
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'assets', name);
    if (fs.existsSync(candidate) || fs.existsSync(path.join(dir, 'package.json'))) return candidate;
    dir = path.dirname(dir);
  }
  return path.join('assets', name);
}
