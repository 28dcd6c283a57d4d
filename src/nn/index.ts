/** Neural-network building blocks: Module, layers, the DDPM UNet. */
export * from './module';
export * from './summary';
export * from './init';
export * from './layers';
export * from './time-embedding';
export * from './attention';
export * from './text-encoder';
export * from './resblock';
export * from './unet';
