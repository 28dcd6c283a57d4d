/** Saving and loading: safetensors files, atomic writes, training checkpoints, model weights. */
export * from './atomic';
export * from './safetensors';
export * from './training';
