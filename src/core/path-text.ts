/**
 * One way to name a place in a parsed document in a message (a zod issue's path, a YAML node's path):
 * `['rules', 2, 'metric', 'to']` → `rules[2].metric.to`. Shared by the rule loader's problems and the HTTP APIs'
 * validation answers, so a user reads the same notation everywhere.
 */

/** `['matchers', 1, 'value']` → `matchers[1].value`; a leading index is `[0]`; the empty path is ''. */
export function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out;
}
