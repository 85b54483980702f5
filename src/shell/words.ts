// Splitting what the user typed: a script into command lines (`;` and
// newlines), a line into words (POSIX-like quotes and backslashes). Pure.

export interface Word {
  text: string; // unquoted
  start: number; // offset of its first character in the line
}

export interface Split {
  words: Word[];
  /** The line ends inside an unfinished word (no trailing blank): completion replaces it. */
  open: boolean;
  /** An unclosed quote. */
  unterminated: string | null;
}

export function splitLine(line: string): Split {
  const words: Word[] = [];
  let cur: Word | null = null;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) cur!.text += line[++i];
      else cur!.text += ch;
      continue;
    }
    if (ch === ' ' || ch === '\t') {
      if (cur) words.push(cur);
      cur = null;
      continue;
    }
    cur ??= { text: '', start: i };
    if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '\\' && i + 1 < line.length) cur.text += line[++i];
    else cur.text += ch;
  }
  const open = cur !== null;
  if (cur) words.push(cur);
  return { words, open, unterminated: quote };
}

export function words(line: string): string[] {
  return splitLine(line).words.map((w) => w.text);
}

/** Splits a script into command lines at `;` and newlines outside quotes; blank lines and `#` comments (from a word's start to the line's end) dropped. */
export function splitCommands(script: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (let i = 0; i < script.length; i++) {
    const ch = script[i];
    if (quote) {
      if (ch === '\\' && quote === '"' && i + 1 < script.length) cur += ch + script[++i];
      else {
        if (ch === quote) quote = null;
        cur += ch;
      }
      continue;
    }
    // As in sh: `#` at the start of a word comments out the rest of the line (`list  # all`).
    if (ch === '#' && (cur.trim() === '' || /[ \t]$/.test(cur))) {
      while (i + 1 < script.length && script[i + 1] !== '\n') i++;
      continue;
    }
    if (ch === "'" || ch === '"') quote = ch;
    if (ch === '\\' && i + 1 < script.length) {
      cur += ch + script[++i];
      continue;
    }
    if (ch === ';' || ch === '\n') {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  out.push(cur);
  return out.map((l) => l.trim()).filter((l) => l);
}

/** Quotes a word so that splitLine gives it back unchanged. */
export function quoteWord(w: string): string {
  return /^[A-Za-z0-9_./:=@%+,~-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}
