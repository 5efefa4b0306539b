/** The keyserver client (HKP with failover and limits); re-exports only. */
export * from './client.js';
export * from './hkp.js';
export * from './http.js';
export * from './mr-index.js';
export * from './url.js';
