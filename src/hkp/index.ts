/** The keyserver's HTTP face (HKP v1 and v2, VKS, WKD, health, metrics); re-exports only. */
export * from './errors.js';
export * from './find.js';
export * from './limits.js';
export * from './server.js';
export * from './service.js';
export * from '../server/summary.js';
export * from './wkd.js';
