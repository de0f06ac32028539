// Starts a worker thread whose entry is a TypeScript module (workerData.entry), for code run from src/ under
// vitest: registers ts-hooks.mjs (resolve `./x.js` to `./x.ts`, transpile .ts with the TypeScript compiler), then
// imports the entry. The compiled daemon (dist/) never uses this.
import { register } from 'node:module';
import { workerData } from 'node:worker_threads';

register('./ts-hooks.mjs', import.meta.url);
await import(workerData.entry);
