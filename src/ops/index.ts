/** Every op, re-exported from one place. */
export * from './util';
export * from './elementwise';
export * from './reduce';
export * from './views';
export * from './matmul';
export * from './shape';
export * from './softmax';
export * from './conv';
export * from './norm';
export * from './loss';
