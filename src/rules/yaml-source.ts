/**
 * A rule file as parsed YAML that still knows where everything was written. Validation works on plain values
 * (`doc.toJS()`), and every problem found there is located by walking the same path through the YAML tree, so a
 * schema or cross-reference error points at the line and column of the offending node, not just at the file.
 */
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { Problem, ProblemCode } from './problem.js';

export type PathSegment = string | number;

export interface Position {
  line: number;
  col: number;
}

export interface YamlSource {
  file: string;
  /** The plain value, or undefined when the YAML itself is broken (then `problems` says why). */
  value: unknown;
  problems: Problem[];
  /**
   * Where the node at `path` starts. `target: 'key'` points at the key of a mapping entry (for "unknown field" and
   * for fields whose value is missing); otherwise at the value. A path that leads nowhere (a missing field) points
   * at the deepest node that exists on it.
   */
  locate(path: readonly PathSegment[], target?: 'key' | 'value'): Position;
  problemAt(path: readonly PathSegment[], code: ProblemCode, message: string, target?: 'key' | 'value'): Problem;
}

/** Alias bombs and runaway nesting are refused rather than expanded; no rule file needs more. */
const MAX_ALIAS_COUNT = 100;

export function parseYamlSource(file: string, text: string): YamlSource {
  // A LineCounter accumulates line starts, so each parse needs its own.
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: false });
  const pos = (offset: number): Position => {
    const lp = lineCounter.linePos(offset);
    return { line: lp.line, col: lp.col };
  };

  const locate = (path: readonly PathSegment[], target: 'key' | 'value' = 'value'): Position => {
    const offset = locateOffset(doc, path, target);
    return offset === undefined ? { line: 1, col: 1 } : pos(offset);
  };
  const problemAt = (
    path: readonly PathSegment[],
    code: ProblemCode,
    message: string,
    target: 'key' | 'value' = 'value',
  ): Problem => ({ file, ...locate(path, target), message, code });

  const problems: Problem[] = [];
  // The first YAML error is the one to fix: the parser's later ones are mostly its confusion after it (an
  // indentation mistake gives three to five), and they point at lines that are fine. One per line at most.
  const [first, ...rest] = [...doc.errors, ...doc.warnings].sort((a, b) => a.pos[0] - b.pos[0]);
  if (first) {
    const at = pos(first.pos[0]);
    problems.push(
      (DEEPER_LINE_AFTER.has(first.code) ? indentationProblem(file, text, at.line) : undefined) ?? {
        file,
        ...at,
        message: yamlMessage(first.code, first.message),
        code: 'yaml_syntax',
      },
    );
    // Errors of another kind that are not confusion (a tab, a repeated key) elsewhere are still worth saying.
    const lines = new Set([problems[0]!.line, at.line]);
    for (const err of rest) {
      if (err.code !== 'TAB_AS_INDENT' && err.code !== 'DUPLICATE_KEY') continue;
      const p = pos(err.pos[0]);
      if (lines.has(p.line)) continue;
      lines.add(p.line);
      problems.push({ file, ...p, message: yamlMessage(err.code, err.message), code: 'yaml_syntax' });
    }
  }
  let value: unknown;
  if (problems.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      // e.g. an alias to an anchor that does not exist, or too many aliases.
      problems.push({
        file,
        line: 1,
        col: 1,
        message: `cannot read the YAML: ${(err as Error).message}`,
        code: 'yaml_syntax',
      });
    }
  }
  return { file, value, problems, locate, problemAt };
}

/** The parser's errors that, after an over-indented line, blame the line before it. */
const DEEPER_LINE_AFTER = new Set(['MULTILINE_IMPLICIT_KEY', 'BLOCK_AS_IMPLICIT_KEY']);

/**
 * The commonest YAML mistake in a rule file is a field indented further than the one before it. The parser then
 * reports the line before (the field that already has a value cannot also hold a mapping), which sends people to a
 * line that is right. When the line after the reported one is indented deeper than the reported line's key, and that
 * key already has a value, the mistake is the line after: say so there.
 */
function indentationProblem(file: string, text: string, line: number): Problem | undefined {
  const lines = text.split(/\r?\n/);
  const here = lines[line - 1];
  if (here === undefined) return undefined;
  const keyed = /^(\s*)(?:- +)?([A-Za-z0-9_.-]+):(.*)$/.exec(here);
  if (!keyed) return undefined;
  const value = keyed[3]!.replace(/\s+#.*$/, '').trim();
  if (value === '' || value === '|' || value === '>') return undefined;
  const keyCol = here.indexOf(keyed[2]!);
  for (let i = line; i < lines.length; i++) {
    const next = lines[i]!;
    if (next.trim() === '' || next.trim().startsWith('#')) continue;
    const indent = next.length - next.trimStart().length;
    if (indent <= keyCol || !/^\s*(?:- +)?[A-Za-z0-9_.-]+:/.test(next)) return undefined;
    return {
      file,
      line: i + 1,
      col: indent + 1,
      code: 'yaml_syntax',
      message:
        `YAML: this line is indented deeper than "${keyed[2]}:" on line ${line}, which already has a value; ` +
        `indent it like the fields around it (${keyCol} spaces)`,
    };
  }
  return undefined;
}

function yamlMessage(code: string, message: string): string {
  // The library's messages are good; add the hint a non-programmer needs for the most common one.
  if (code === 'TAB_AS_INDENT') return `${message}: indent with spaces`;
  if (code === 'DUPLICATE_KEY') return `${message}: this key appears twice in the same mapping`;
  if (code === 'BAD_INDENT')
    return `YAML: ${message}: this line is not indented like the fields around it (indent with spaces, 2 per level)`;
  if (message.startsWith('Sequence item without - indicator'))
    return `YAML: ${message}: this line is indented less than the fields of its list item`;
  return `YAML: ${message}`;
}

function locateOffset(doc: Document, path: readonly PathSegment[], target: 'key' | 'value'): number | undefined {
  let node: unknown = doc.contents;
  let best: number | undefined = startOf(node);
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    node = resolve(doc, node);
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
      if (!pair) return best;
      const keyStart = startOf(pair.key);
      const valueStart = startOf(pair.value);
      // A key with no value (`for:`) has nothing to point at but the key.
      if (last) return target === 'key' ? (keyStart ?? best) : (valueStart ?? keyStart ?? best);
      best = valueStart ?? keyStart ?? best;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) return best;
      best = startOf(item) ?? best;
      node = item;
    } else {
      return best;
    }
  }
  return best;
}

function resolve(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

function startOf(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : undefined;
}
