export * from './errors.js';
export * from './messages.js';
export * from './validate.js';
export * from './search-terms.js';
