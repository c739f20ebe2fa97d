'use strict';
/**
 * Finds the designated initializers `{ .name = …, .field = …, … }` in C source text and
 * returns each as a map field -> expression text. Only what QEMU's ARMCPRegInfo tables need:
 * comments and string literals are respected, preprocessor lines are ignored (so both arms of
 * an #ifdef are read — we want every name QEMU can define, not one build's).
 */

/** Replaces comments and preprocessor lines by spaces, keeping offsets and string literals. */
function stripComments(src) {
  let out = '';
  let i = 0;
  let lineStart = true;
  while (i < src.length) {
    const c = src[i];
    const n = src[i + 1];
    if (lineStart && /^[ \t]*#/.test(src.slice(i, i + 80))) {
      // A preprocessor directive, with its backslash continuations.
      let j = i;
      while (j < src.length && !(src[j] === '\n' && src[j - 1] !== '\\')) j++;
      out += src.slice(i, j).replace(/[^\n]/g, ' ');
      i = j;
      continue;
    }
    lineStart = false;
    if (c === '/' && n === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      out += src.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (c === '/' && n === '/') {
      let j = i;
      while (j < src.length && src[j] !== '\n') j++;
      out += ' '.repeat(j - i);
      i = j;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      if (c === '\n') lineStart = true;
      i++;
    }
  }
  return out;
}

/** Index of the bracket matching the one at `open`, skipping string literals. */
function matchBracket(text, open) {
  const pairs = { '{': '}', '(': ')', '[': ']' };
  const stack = [pairs[text[open]]];
  for (let i = open + 1; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      i = j;
    } else if (pairs[c]) stack.push(pairs[c]);
    else if (c === stack[stack.length - 1]) {
      stack.pop();
      if (stack.length === 0) return i;
    }
  }
  return -1;
}

/** Splits `text` at top-level commas (outside brackets and strings). */
function splitTopLevel(text) {
  const parts = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      i = j;
    } else if ('({['.includes(c)) depth++;
    else if (')}]'.includes(c)) depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/**
 * The variable an initializer at `open` belongs to: `name` in `ARMCPRegInfo name[] = { {…}, … }`
 * or `ARMCPRegInfo name = {…}`; undefined for a compound literal or anything else.
 */
function containerName(text, open) {
  let at = open;
  for (let hops = 0; hops < 4; hops++) {
    let end = at;
    while (end > 0 && /\s/.test(text[end - 1])) end--;
    const before = text.slice(Math.max(0, end - 200), end);
    const decl = /([A-Za-z_][A-Za-z_0-9]*)\s*(\[[^\]]*\])?\s*=$/.exec(before);
    if (decl) return decl[1];
    if (!/[,{]$/.test(before)) return undefined;
    // An element of a list: go to the list's own '{'.
    let depth = 0;
    let i = at - 1;
    for (; i >= 0; i--) {
      const c = text[i];
      if (c === '}' || c === ')' || c === ']') depth++;
      else if (c === '{' || c === '(' || c === '[') {
        if (depth === 0) break;
        depth--;
      }
    }
    if (i < 0 || text[i] !== '{') return undefined;
    at = i;
  }
  return undefined;
}

/**
 * Every brace block whose own top level has a `.name =` designator.
 * Returns [{ fields: {name: exprText, …}, line, container }]. A repeated designator keeps the last
 * value, as C does (QEMU's DBGDEVID entries repeat `.crn`). `container` is the variable (array)
 * the initializer belongs to, see containerName.
 */
function findInitializers(src) {
  const text = stripComments(src);
  const found = [];
  const seen = new Set();
  const re = /\.name\s*=/g;
  let m;
  while ((m = re.exec(text))) {
    // Walk back to the innermost unclosed '{'.
    let depth = 0;
    let open = -1;
    for (let i = m.index; i >= 0; i--) {
      const c = text[i];
      if (c === '}' || c === ')' || c === ']') depth++;
      else if (c === '{' || c === '(' || c === '[') {
        if (depth === 0) {
          open = c === '{' ? i : -1;
          break;
        }
        depth--;
      }
    }
    if (open < 0 || seen.has(open)) continue;
    seen.add(open);
    const close = matchBracket(text, open);
    if (close < 0) continue;
    const fields = {};
    for (const part of splitTopLevel(text.slice(open + 1, close))) {
      const d = /^\.([a-z_0-9]+)\s*=\s*([\s\S]*)$/.exec(part);
      if (d) fields[d[1]] = d[2].replace(/\s+/g, ' ').trim();
    }
    const line = text.slice(0, open).split('\n').length;
    found.push({ fields, line, container: containerName(text, open) });
  }
  return found;
}

module.exports = { stripComments, findInitializers, splitTopLevel };
