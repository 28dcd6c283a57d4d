/**
 * Checkpoints of a training run, and model weights for sampling.
 *
 * A training checkpoint is one safetensors file with everything a run needs to continue
 * exactly where it stopped:
 *   tensors   model.<param>       the weights
 *             ema.<param>         their exponential moving average (if any)
 *             optim.<state>.<param>  the optimizer's per-parameter state (Adam: m and v)
 *   metadata  format, step, config (JSON), optimizer (type, step, hyperparameters),
 *             ema (decay, updates), rng (generator states), data_loader (its state),
 *             extra (anything else, JSON)
 * A plain weights file holds the parameters under their own names (`conv_in.weight`), as
 * other tools expect. `loadModelWeights` reads either.
 */
import { Module, StateDict } from '../nn/module';
import { EMA } from '../optim/ema';
import { Optimizer, OptimizerStateDict } from '../optim/optimizer';
import { Tensor } from '../tensor';
import { HostTensor, SafetensorsFile, readSafetensors, saveSafetensors, serializeSafetensors } from './safetensors';

export const TRAINING_CHECKPOINT_FORMAT = 'tiny-ddpm-training-checkpoint';
export const TRAINING_CHECKPOINT_VERSION = '1';

export interface TrainingCheckpoint {
  /** optimizer steps taken */
  step: number;
  model: Module;
  ema?: EMA | null;
  optimizer?: Optimizer | null;
  /** the run's configuration (model preset, lr, batch size, ...), plain JSON */
  config?: unknown;
  /** states of the random generators (Generator.getState()), plain JSON */
  rng?: unknown;
  /** the data loader's state (DataLoader.getState()), plain JSON */
  dataLoader?: unknown;
  /** anything else the trainer wants back (loss history, elapsed time, ...), plain JSON */
  extra?: unknown;
  /** frozen modules the run needs besides the model (a latent run's autoencoder), saved under `<key>.` */
  modules?: Record<string, Module>;
}

/** What a training checkpoint says about itself, besides the tensors. */
export interface TrainingCheckpointInfo {
  step: number;
  config: unknown;
  rng: unknown;
  dataLoader: unknown;
  extra: unknown;
  optimizer: { type: string; step: number; hyperparameters: Record<string, number | boolean> } | null;
  ema: { decay: number; warmup: boolean; numUpdates: number } | null;
  /** the raw safetensors metadata */
  metadata: Record<string, string>;
}

const json = (v: unknown) => JSON.stringify(v ?? null);

/** Save a training checkpoint atomically (a failure leaves the previous file intact). */
export function saveTrainingCheckpoint(file: string, ckpt: TrainingCheckpoint): void {
  const { tensors, metadata } = trainingCheckpointContents(ckpt);
  saveSafetensors(file, tensors, metadata);
}

/** The bytes of the file saveTrainingCheckpoint writes (a browser offers them as a download). */
export function serializeTrainingCheckpoint(ckpt: TrainingCheckpoint): Uint8Array {
  const { tensors, metadata } = trainingCheckpointContents(ckpt);
  return serializeSafetensors(tensors, metadata);
}

function trainingCheckpointContents(ckpt: TrainingCheckpoint): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const tensors: Record<string, Tensor> = {};
  for (const [name, p] of ckpt.model.namedParameters()) tensors[`model.${name}`] = p;
  for (const [key, m] of Object.entries(ckpt.modules ?? {})) {
    if (['model', 'ema', 'optim'].includes(key)) throw new Error(`saveTrainingCheckpoint: '${key}' is taken; name the extra module otherwise`);
    for (const [name, p] of m.namedParameters()) tensors[`${key}.${name}`] = p;
  }
  let emaInfo = null;
  if (ckpt.ema) {
    const s = ckpt.ema.stateDict();
    for (const [name, t] of Object.entries(s.tensors)) tensors[`ema.${name}`] = t;
    emaInfo = { decay: s.decay, warmup: s.warmup, numUpdates: s.numUpdates };
  }
  let optimInfo = null;
  if (ckpt.optimizer) {
    const s = ckpt.optimizer.stateDict();
    for (const [key, t] of Object.entries(s.tensors)) tensors[`optim.${key}`] = t;
    optimInfo = { type: s.type, step: s.step, hyperparameters: s.hyperparameters };
  }
  const metadata: Record<string, string> = {
    format: TRAINING_CHECKPOINT_FORMAT,
    format_version: TRAINING_CHECKPOINT_VERSION,
    step: String(ckpt.step),
    config: json(ckpt.config),
    optimizer: json(optimInfo),
    ema: json(emaInfo),
    rng: json(ckpt.rng),
    data_loader: json(ckpt.dataLoader),
    extra: json(ckpt.extra),
  };
  return { tensors, metadata };
}

export function isTrainingCheckpoint(f: SafetensorsFile): boolean {
  return f.metadata.format === TRAINING_CHECKPOINT_FORMAT;
}

function parseInfo(f: SafetensorsFile, file: string): TrainingCheckpointInfo {
  const m = f.metadata;
  const field = (key: string) => {
    if (m[key] === undefined) return null;
    try {
      return JSON.parse(m[key]);
    } catch {
      throw new Error(`checkpoint '${file}': metadata '${key}' is not valid JSON`);
    }
  };
  const step = Number(m.step);
  if (!Number.isInteger(step) || step < 0) throw new Error(`checkpoint '${file}': metadata 'step' is ${JSON.stringify(m.step)}, not a step count`);
  return { step, config: field('config'), rng: field('rng'), dataLoader: field('data_loader'), extra: field('extra'), optimizer: field('optimizer'), ema: field('ema'), metadata: m };
}

/** The tensors under `prefix.` with the prefix taken off, as tensors like `like` (its backend). */
function withPrefix(f: SafetensorsFile, prefix: string, like: Tensor): StateDict {
  const out: StateDict = {};
  for (const [name, t] of Object.entries(f.tensors)) {
    if (name.startsWith(prefix)) out[name.slice(prefix.length)] = hostToTensor(t, like);
  }
  return out;
}

function hostToTensor(t: HostTensor, like: Tensor): Tensor {
  return Tensor.fromBuf(like.backend.fromArray(t.data), t.shape, like.backend);
}

/**
 * Check that `tensors` (name -> shape) fit `model` exactly; the error names the file and the
 * first mismatching key or shape, in the model's parameter order.
 */
function checkFits(model: Module, shapes: Map<string, number[]>, file: string, what: string): void {
  const fail = (why: string) => new Error(`'${file}' does not fit this ${model.constructor.name} (${what}): ${why}`);
  const own = model.namedParameters();
  for (const [name, p] of own) {
    const s = shapes.get(name);
    if (!s) throw fail(`first mismatch: parameter '${name}' [${p.shape}] is not in the file${shapes.size ? ` (it has ${shapes.size} tensors, the first '${shapes.keys().next().value}')` : ''}`);
    if (s.join() !== p.shape.join()) throw fail(`first mismatch: '${name}' is [${s}] in the file but [${p.shape}] in the model`);
  }
  const names = new Set(own.map(([n]) => n));
  for (const name of shapes.keys()) if (!names.has(name)) throw fail(`first mismatch: the file has '${name}', which the model does not`);
}

function shapesUnder(f: SafetensorsFile, prefix: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [name, t] of Object.entries(f.tensors)) if (name.startsWith(prefix)) out.set(name.slice(prefix.length), t.shape);
  return out;
}

/**
 * What trained a checkpoint, from its config.kind: 'autoencoder' (train-ae), 'upsampler'
 * (train-upsampler); undefined for a diffusion run (train writes no kind) and for a file that
 * is not a training checkpoint.
 */
export function checkpointKind(file: string): string | undefined {
  try {
    return (readTrainingCheckpointInfo(file).config as { kind?: string } | null)?.kind;
  } catch {
    return undefined;
  }
}

/** Read a checkpoint's step, config, rng, ... without loading any weights (e.g. to rebuild the model from its config first). */
export function readTrainingCheckpointInfo(file: string): TrainingCheckpointInfo {
  return trainingCheckpointInfo(readSafetensors(file), file);
}

/** The same, of a file already parsed (parseSafetensors); `file` names it in errors. */
export function trainingCheckpointInfo(f: SafetensorsFile, file: string): TrainingCheckpointInfo {
  if (!isTrainingCheckpoint(f)) throw new Error(`checkpoint '${file}' is not a tiny-ddpm training checkpoint (metadata 'format' is ${JSON.stringify(f.metadata.format)})`);
  return parseInfo(f, file);
}

/**
 * Load a training checkpoint into the given model, EMA and optimizer (each one given must be
 * in the file) and return the rest (step, config, rng, data loader, extra) for the trainer.
 * Everything is checked before anything is loaded.
 */
export function loadTrainingCheckpoint(file: string, into: { model: Module; ema?: EMA | null; optimizer?: Optimizer | null }): TrainingCheckpointInfo {
  const f = readSafetensors(file);
  const info = trainingCheckpointInfo(f, file);
  if (isSamplingExport(f)) throw new Error(`checkpoint '${file}' holds only the EMA weights of a run (tiny-ddpm export), for sampling: it has no training state to continue from`);
  const like = into.model.parameters()[0];
  checkFits(into.model, shapesUnder(f, 'model.'), file, 'model weights');

  let emaState = null;
  if (into.ema) {
    if (!info.ema) throw new Error(`checkpoint '${file}' has no EMA weights, but an EMA was given to load them into`);
    checkFits(into.model, shapesUnder(f, 'ema.'), file, 'EMA weights');
    emaState = { ...info.ema, tensors: withPrefix(f, 'ema.', like) };
  }
  let optimState: OptimizerStateDict | null = null;
  if (into.optimizer) {
    if (!info.optimizer) throw new Error(`checkpoint '${file}' has no optimizer state, but an optimizer was given to load it into`);
    const want = into.optimizer.constructor.name;
    if (info.optimizer.type !== want) throw new Error(`checkpoint '${file}' holds ${info.optimizer.type} state, but the optimizer is ${want}`);
    optimState = { ...info.optimizer, tensors: withPrefix(f, 'optim.', like) };
  }
  // All checked: now load. (Optimizer.loadStateDict checks names and shapes before it changes anything.)
  if (into.optimizer && optimState) {
    try {
      into.optimizer.loadStateDict(optimState);
    } catch (err) {
      throw new Error(`checkpoint '${file}': ${(err as Error).message}`);
    }
  }
  into.model.loadStateDict(withPrefix(f, 'model.', like));
  if (into.ema && emaState) into.ema.loadStateDict(emaState);
  return info;
}

/** Load the extra module saved under `<key>.` (TrainingCheckpoint.modules) into `module`, checked to fit first. */
export function loadCheckpointModule(file: string, key: string, module: Module): void {
  const f = readSafetensors(file);
  const shapes = shapesUnder(f, `${key}.`);
  if (shapes.size === 0) throw new Error(`checkpoint '${file}' holds no '${key}' module`);
  checkFits(module, shapes, file, `${key} weights`);
  module.loadStateDict(withPrefix(f, `${key}.`, module.parameters()[0]));
}

/** Save a model's parameters (or a state dict) as a plain weights file: `conv_in.weight`, ... */
export function saveModelWeights(file: string, weights: Module | StateDict, metadata: Record<string, string> = {}): void {
  saveSafetensors(file, weights instanceof Module ? weights.stateDict() : weights, metadata);
}

export interface LoadModelWeightsOptions {
  /** from a training checkpoint, load the EMA weights (default, when present) or the raw model weights */
  prefer?: 'ema' | 'model';
}

/**
 * Load weights into `model` from a plain weights file or a training checkpoint (its EMA
 * weights by default, the usual choice for sampling). Returns which weights were loaded.
 */
export function loadModelWeights(file: string, model: Module, opts: LoadModelWeightsOptions = {}): { source: 'weights' | 'ema' | 'model'; metadata: Record<string, string> } {
  return loadModelWeightsFrom(readSafetensors(file), file, model, opts);
}

/** The same, from a file already parsed (parseSafetensors: the bytes a browser fetched); `file` names it in errors. */
export function loadModelWeightsFrom(f: SafetensorsFile, file: string, model: Module, opts: LoadModelWeightsOptions = {}): { source: 'weights' | 'ema' | 'model'; metadata: Record<string, string> } {
  let source: 'weights' | 'ema' | 'model' = 'weights';
  let prefix = '';
  if (isTrainingCheckpoint(f)) {
    const hasEma = Object.keys(f.tensors).some((n) => n.startsWith('ema.'));
    source = (opts.prefer ?? 'ema') === 'ema' && hasEma ? 'ema' : 'model';
    if (source === 'model' && isSamplingExport(f)) throw new Error(`'${file}' holds only the EMA weights of its run (tiny-ddpm export): sample it with --weights ema`);
    prefix = `${source}.`;
  }
  checkFits(model, shapesUnder(f, prefix), file, source === 'weights' ? 'weights file' : `${source} weights of a training checkpoint`);
  model.loadStateDict(withPrefix(f, prefix, model.parameters()[0]));
  return { source, metadata: f.metadata };
}

/**
 * A training checkpoint cut down for sampling: its EMA weights (under `ema.`, as in the
 * checkpoint), any extra modules (a latent run's autoencoder) and its config, without the raw
 * weights, the optimizer state, the RNG and the data loader: a quarter of the size with Adam.
 * `sample` reads it as it reads the full checkpoint; `train --resume` refuses it. `note` goes
 * into the metadata's extra (where it came from), beside the run's own.
 */
export function exportSamplingCheckpoint(file: string, out: string, note: Record<string, unknown> = {}): { tensors: number; parameters: number } {
  const f = readSafetensors(file);
  const info = trainingCheckpointInfo(f, file);
  if (!info.ema) throw new Error(`export: '${file}' has no EMA weights to export`);
  const tensors: Record<string, HostTensor> = {};
  let parameters = 0;
  for (const [name, t] of Object.entries(f.tensors)) {
    if (name.startsWith('model.') || name.startsWith('optim.')) continue;
    tensors[name] = t;
    if (name.startsWith('ema.')) parameters += t.data.length;
  }
  const extra = { ...((info.extra as Record<string, unknown> | null) ?? {}), exported: { from: file, weights: 'ema', ...note } };
  saveSafetensors(out, tensors, { ...f.metadata, optimizer: 'null', rng: 'null', data_loader: 'null', extra: json(extra) });
  return { tensors: Object.keys(tensors).length, parameters };
}

/** A file exportSamplingCheckpoint wrote: a training checkpoint with EMA weights and no raw ones. */
export function isSamplingExport(f: SafetensorsFile): boolean {
  return isTrainingCheckpoint(f) && !Object.keys(f.tensors).some((n) => n.startsWith('model.'));
}
