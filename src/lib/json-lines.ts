/**
 * JSON.parse that says where: a syntax error carries its line and column, and
 * every value's line is kept by its path ("cron[0].schedule"), so a reader that
 * refuses a value can name the line it is on. Strict JSON (RFC 8259): no
 * comments, no trailing commas.
 */
export class JsonSyntaxError extends Error {
  override name = "JsonSyntaxError";
  constructor(readonly reason: string, readonly line: number, readonly column: number) {
    super(`line ${line}, column ${column}: ${reason}`);
  }
}

export interface LocatedJson {
  value: unknown;
  /** The line a path's value starts on (1-based); the closest enclosing path's when unknown. */
  lineOf(path: string): number;
}

export function parseJsonWithLines(text: string): LocatedJson {
  const lines = new Map<string, number>();
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const fail = (reason: string): never => {
    throw new JsonSyntaxError(reason, line, i - lineStart + 1);
  };
  const here = () => (i < text.length ? JSON.stringify(text[i]) : "the end of the file");
  const space = () => {
    while (i < text.length && " \t\r\n".includes(text[i]!)) {
      if (text[i] === "\n") {
        line++;
        lineStart = i + 1;
      }
      i++;
    }
  };
  const string = (): string => {
    const start = i;
    i++; // the opening quote
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\n") fail("a string runs past the end of its line");
      i += text[i] === "\\" ? 2 : 1;
    }
    if (i >= text.length) fail("a string is not closed");
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      i = start;
      return fail("a string holds an invalid escape or control character");
    }
  };
  const value = (path: string): unknown => {
    space();
    lines.set(path, line);
    const c = text[i];
    if (c === "{") return object(path);
    if (c === "[") return array(path);
    if (c === '"') return string();
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 64));
    if (!literal) return fail(`expected a value, found ${here()}`);
    i += literal[0].length;
    return JSON.parse(literal[0]);
  };
  const object = (path: string): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    i++;
    space();
    if (text[i] === "}") return i++, out;
    for (;;) {
      space();
      if (text[i] !== '"') fail(`expected a key in double quotes, found ${here()}`);
      const key = string();
      space();
      if (text[i] !== ":") fail(`expected ":" after the key "${key}", found ${here()}`);
      i++;
      out[key] = value(path ? `${path}.${key}` : key);
      space();
      if (text[i] === ",") {
        i++;
        space();
        if (text[i] === "}") fail('a trailing comma before "}"');
        continue;
      }
      if (text[i] === "}") return i++, out;
      fail(`expected "," or "}" after the value of "${key}", found ${here()}`);
    }
  };
  const array = (path: string): unknown[] => {
    const out: unknown[] = [];
    i++;
    space();
    if (text[i] === "]") return i++, out;
    for (;;) {
      out.push(value(`${path}[${out.length}]`));
      space();
      if (text[i] === ",") {
        i++;
        space();
        if (text[i] === "]") fail('a trailing comma before "]"');
        continue;
      }
      if (text[i] === "]") return i++, out;
      fail(`expected "," or "]" in a list, found ${here()}`);
    }
  };
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  const result = value("");
  space();
  if (i < text.length) fail(`unexpected ${here()} after the end of the document`);
  return {
    value: result,
    lineOf(path: string): number {
      for (let p = path; ; p = p.replace(/(\.[^.[\]]*|\[\d+\])$/, "")) {
        const found = lines.get(p);
        if (found !== undefined) return found;
        if (p === "") return 1;
      }
    },
  };
}
