export * from './schedule';
export * from './forward';
export * from './samplers';
export * from './objective';
export * from './timesteps';
