// A JSON parser for the config editor: the same values as JSON.parse, plus where each value
// starts (by path, `rules[3].when`) and a parse error with its line and column.

/** A syntax error at an offset of the text. */
export class JsonSyntaxError extends Error {
  constructor(message, offset, text) {
    const { line, column } = lineColumn(text, offset);
    super(`${message} at line ${line}, column ${column}`);
    this.offset = offset;
    this.line = line;
    this.column = column;
  }
}

/** Line and column (both from 1) of an offset. */
export function lineColumn(text, offset) {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i += 1) {
    if (text.charCodeAt(i) === 10) {
      line += 1;
      start = i + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

/** A path with one more step: `.name` (or `["odd name"]`) for a member, `[3]` for an index. */
export function childPath(path, key) {
  if (typeof key === "number") return `${path}[${key}]`;
  if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

/** Parses `text`: `{value, offsets}` where `offsets` maps each path to its value's offset. */
export function parseDocument(text) {
  const offsets = new Map();
  let i = 0;
  const fail = (message, at = i) => {
    throw new JsonSyntaxError(message, at, text);
  };
  const describe = () => (i >= text.length ? "end of document" : `${JSON.stringify(text[i])}`);
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i += 1;
  };
  const expect = (literal, value) => {
    if (text.startsWith(literal, i)) {
      i += literal.length;
      return value;
    }
    return fail(`unexpected ${describe()}`);
  };
  const string = () => {
    const start = i;
    i += 1;
    let out = "";
    for (;;) {
      if (i >= text.length) fail("unterminated string", start);
      const c = text[i];
      if (c === '"') {
        i += 1;
        return out;
      }
      if (c === "\\") {
        const e = text[i + 1];
        const simple = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
        if (e in simple) {
          out += simple[e];
          i += 2;
        } else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
        } else {
          fail("invalid escape in string");
        }
      } else if (c < " ") {
        fail(c === "\n" ? "line break inside a string (missing closing quote?)" : "control character in string");
      } else {
        out += c;
        i += 1;
      }
    }
  };
  const number = () => {
    const match = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!match) fail(`unexpected ${describe()}`);
    i += match[0].length;
    return Number(match[0]);
  };
  const value = (path) => {
    space();
    offsets.set(path, i);
    const c = text[i];
    if (c === "{") return object(path);
    if (c === "[") return array(path);
    if (c === '"') return string();
    if (c === "t") return expect("true", true);
    if (c === "f") return expect("false", false);
    if (c === "n") return expect("null", null);
    if (c === "-" || (c >= "0" && c <= "9")) return number();
    return fail(i >= text.length ? "unexpected end of document" : `unexpected ${describe()}`);
  };
  const object = (path) => {
    i += 1;
    const out = {};
    space();
    if (text[i] === "}") {
      i += 1;
      return out;
    }
    for (;;) {
      space();
      if (text[i] !== '"') fail(text[i] === "}" ? "trailing comma before }" : `expected a member name in quotes, found ${describe()}`);
      const key = string();
      space();
      if (text[i] !== ":") fail(`expected ":" after ${JSON.stringify(key)}, found ${describe()}`);
      i += 1;
      Object.defineProperty(out, key, { value: value(childPath(path, key)), enumerable: true, writable: true, configurable: true });
      space();
      if (text[i] === ",") {
        i += 1;
      } else if (text[i] === "}") {
        i += 1;
        return out;
      } else {
        fail(`expected "," or "}" after a member, found ${describe()}`);
      }
    }
  };
  const array = (path) => {
    i += 1;
    const out = [];
    space();
    if (text[i] === "]") {
      i += 1;
      return out;
    }
    for (;;) {
      out.push(value(childPath(path, out.length)));
      space();
      if (text[i] === ",") {
        i += 1;
        space();
        if (text[i] === "]") fail("trailing comma before ]");
      } else if (text[i] === "]") {
        i += 1;
        return out;
      } else {
        fail(`expected "," or "]" after an item, found ${describe()}`);
      }
    }
  };
  const result = value("");
  space();
  if (i < text.length) fail(`unexpected ${describe()} after the document`);
  return { value: result, offsets };
}

/** The offset to show for a problem at `path`: the path's value, else its nearest parent's. */
export function offsetOf(offsets, path) {
  let p = path;
  for (;;) {
    if (offsets.has(p)) return offsets.get(p);
    if (!p) return 0;
    const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
    p = cut <= 0 ? "" : p.slice(0, cut);
  }
}
