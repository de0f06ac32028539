/** Runs only the evaluation-tick timing (see eval-timing.ts). */
import { measureEvalTick } from './eval-timing.js';
const r = await measureEvalTick({ log: (l) => console.error(`[eval-timing] ${l}`) });
console.log(JSON.stringify(r));
