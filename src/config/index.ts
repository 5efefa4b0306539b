/** Configuration files and the standard directories. */
export * from './config.js';
export * from './shell.js';
