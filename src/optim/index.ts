/** Optimizers, gradient clipping, learning-rate schedules and the EMA of the weights. */
export * from './optimizer';
export * from './sgd';
export * from './adam';
export * from './clip';
export * from './schedule';
export * from './ema';
