// Bundles the dashboard's client (src/dashboard/client: Preact + uPlot) with esbuild into dist/dashboard/assets/,
// with uPlot's stylesheet and ours, so the daemon serves everything itself: no CDN, nothing fetched at run time.
import { build } from 'esbuild';
import { cpSync, mkdirSync } from 'node:fs';

const out = 'dist/dashboard/assets';
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ['src/dashboard/client/main.tsx'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outfile: `${out}/app.js`,
  legalComments: 'none',
  logLevel: 'warning',
});
cpSync('node_modules/uplot/dist/uPlot.min.css', `${out}/uplot.css`);
cpSync('src/dashboard/client/app.css', `${out}/app.css`);
