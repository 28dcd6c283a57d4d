/** A small CNN classifier trained with this library: the feature network of our FID (src/metrics/). */
export * from './model';
export * from './predict';
export * from './train';
export * from './weights';
