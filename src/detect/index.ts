/** Detection statistics: pure functions, no I/O. See each module's header for the why. */
export * from './counts.js';
export * from './normal.js';
export * from './likelihood.js';
export * from './cusum-limit.js';
export * from './thresholds.js';
export * from './scan-detector.js';
export * from './volume-detector.js';
export * from './baseline.js';
export * from './noise.js';
export * from './lag.js';
export * from './drilldown.js';
export * from './reference-rules.js';
