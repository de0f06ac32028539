// Types of eslint.config.js for test/unit/lint/layering.test.ts, which reads the layer list.
export declare const LAYERS: string[][];
declare const config: unknown[];
export default config;
