/**
 * tiny-ddpm: a tensor and autograd library with gpu.js kernels, and a DDPM built on it.
 * Everything a learner uses is exported from here.
 */
export { Tensor, Storage, shapeSize, contiguousStrides, isTensor, tidy } from './tensor';
export * from './creation';
export { noGrad, isGradEnabled, Function, Context, Node, sumToShape } from './autograd';
export { gradCheck, assertGradCheck } from './gradcheck';
export type { GradCheckOptions, GradCheckResult } from './gradcheck';
export { toDot, printGraph } from './graph';
export { Generator, defaultGenerator, manualSeed } from './random';
export type { GeneratorState } from './random';
export { getBackend, setBackend, withBackend } from './backend/registry';
export type { Backend, Buf, StridedView, UnaryOp, BinaryOp, ReduceOp, MatmulParams, Conv2dParams } from './backend/backend';
export { RefBackend } from './backend/ref';
export { where, concat, split, conv2d, upsampleNearest2d, upsampleNearestConv2d, pad2d, avgPool2d, groupNorm, layerNorm, mseLoss, crossEntropy, matmul } from './ops';
export type { Conv2dOptions, Reduction } from './ops';
export * from './nn';
export * from './optim';
export * from './checkpoint';
export * from './diffusion';
export * from './data';
export { writeImagePng, readImagePng, writeGridPng, makeGrid } from './image/png';
export { plotLossCurve } from './image/plot';
export { train, DEFAULT_TRAIN_CONFIG, buildRun, makeSampler } from './train/trainer';
export type { TrainConfig, TrainResult, TrainHooks } from './train/trainer';
export { sampleWithSnapshots, writeReverseProcessPng, writeNoiseStripPng, writeSingleImages } from './train/pictures';
export { resolveBackend, BACKEND_SPECS } from './backend/select';
export { featureStats, frechetDistance } from './metrics/fid';
export { SmallCnn, DEFAULT_CLASSIFIER_CONFIG, classify, evaluateAccuracy, trainClassifier, saveClassifier, loadClassifier, readClassifierInfo, shippedClassifierPath } from './classifier';
export type { ClassifierConfig, ClassifierOutputs, AccuracyResult, TrainClassifierOptions, TrainClassifierResult, EpochRecord, ClassifierInfo, LoadedClassifier } from './classifier';
export { evaluateSamples, realReference, classCoverage, normalizedEntropy, recognizedShare, RECOGNIZED_THRESHOLD } from './metrics/sample-quality';
export type { SampleQuality, RealReference, ClassCoverage, EvaluateSamplesOptions } from './metrics/sample-quality';
export { readPngFolder } from './metrics/png-folder';
