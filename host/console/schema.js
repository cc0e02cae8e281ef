// A JSON Schema (draft 2020-12) checker for the subset policy schemas use: type, enum, const,
// properties, required, additionalProperties, patternProperties, items, min/max(Items|Length),
// minimum, maximum, exclusiveMinimum, exclusiveMaximum, pattern, $ref to #/$defs, oneOf, anyOf,
// allOf. Problems are `{path, message}`, paths in the form the server uses (`rules[3].when`).

import { childPath } from "./jsondoc.js";

const MAX_PROBLEMS = 100;

/** Every problem of `value` against `schema` (at most 100). */
export function check(schema, value) {
  const problems = [];
  validate(schema, value, "", schema, problems, 0);
  return problems.slice(0, MAX_PROBLEMS);
}

function typeOf(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function hasType(value, type) {
  const actual = typeOf(value);
  return actual === type || (type === "number" && actual === "integer");
}

function equal(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && equal(a[k], b[k]));
}

function show(v) {
  return JSON.stringify(v);
}

function resolve(root, ref) {
  if (!ref.startsWith("#")) return null;
  const pointer = decodeURIComponent(ref.slice(1));
  if (pointer === "") return root;
  let node = root;
  for (const raw of pointer.slice(1).split("/")) {
    const part = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object" || !Object.hasOwn(node, part)) return null;
    node = node[part];
  }
  return node;
}

function validate(schema, value, path, root, problems, depth) {
  const add = (message, at = path) => problems.push({ path: at, message });
  if (schema === true || schema === undefined) return;
  if (schema === false) {
    add("is not allowed here");
    return;
  }
  if (typeof schema !== "object" || schema === null || depth > 64) return;

  if (typeof schema.$ref === "string") {
    const target = resolve(root, schema.$ref);
    if (target === null) {
      add(`the schema's reference ${schema.$ref} cannot be resolved`);
    } else {
      validate(target, value, path, root, problems, depth + 1);
    }
  }

  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => hasType(value, t))) {
      add(`must be ${types.map(article).join(" or ")}, not ${article(typeOf(value))}`);
      return;
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => equal(e, value))) {
    add(`must be one of ${schema.enum.map(show).join(", ")}`);
  }
  if (Object.hasOwn(schema, "const") && !equal(schema.const, value)) {
    add(`must be ${show(schema.const)}`);
  }

  if (typeof value === "number") numeric(schema, value, add);
  if (typeof value === "string") textual(schema, value, add);
  if (Array.isArray(value)) {
    if (Number.isInteger(schema.minItems) && value.length < schema.minItems) add(`must have at least ${schema.minItems} item${schema.minItems === 1 ? "" : "s"}`);
    if (Number.isInteger(schema.maxItems) && value.length > schema.maxItems) add(`must have at most ${schema.maxItems} item${schema.maxItems === 1 ? "" : "s"}`);
    if (schema.items !== undefined && !Array.isArray(schema.items)) {
      value.forEach((item, index) => validate(schema.items, item, childPath(path, index), root, problems, depth + 1));
    }
  }
  if (typeOf(value) === "object") members(schema, value, path, root, problems, depth, add);

  if (Array.isArray(schema.allOf)) {
    for (const branch of schema.allOf) validate(branch, value, path, root, problems, depth + 1);
  }
  if (Array.isArray(schema.anyOf)) alternatives(schema.anyOf, false, value, path, root, problems, depth, add);
  if (Array.isArray(schema.oneOf)) alternatives(schema.oneOf, true, value, path, root, problems, depth, add);
}

function article(type) {
  return { integer: "an integer", array: "an array", object: "an object", null: "null" }[type] ?? `a ${type}`;
}

function numeric(schema, value, add) {
  if (typeof schema.minimum === "number" && value < schema.minimum) add(`must be at least ${schema.minimum}`);
  if (typeof schema.maximum === "number" && value > schema.maximum) add(`must be at most ${schema.maximum}`);
  if (typeof schema.exclusiveMinimum === "number" && value <= schema.exclusiveMinimum) add(`must be greater than ${schema.exclusiveMinimum}`);
  if (typeof schema.exclusiveMaximum === "number" && value >= schema.exclusiveMaximum) add(`must be less than ${schema.exclusiveMaximum}`);
}

function textual(schema, value, add) {
  const length = [...value].length;
  if (Number.isInteger(schema.minLength) && length < schema.minLength) add(schema.minLength === 1 ? "must not be empty" : `must be at least ${schema.minLength} characters long`);
  if (Number.isInteger(schema.maxLength) && length > schema.maxLength) add(`must be at most ${schema.maxLength} characters long`);
  if (typeof schema.pattern === "string") {
    let pattern = null;
    try {
      pattern = new RegExp(schema.pattern, "u");
    } catch {
      pattern = null;
    }
    if (pattern && !pattern.test(value)) add(`must match the pattern ${schema.pattern}`);
  }
}

function members(schema, value, path, root, problems, depth, add) {
  const properties = schema.properties && typeof schema.properties === "object" ? schema.properties : {};
  if (Array.isArray(schema.required)) {
    for (const name of schema.required) {
      if (!Object.hasOwn(value, name)) add(`is missing the required member ${show(name)}`);
    }
  }
  const patterns = Object.entries(schema.patternProperties ?? {}).flatMap(([source, sub]) => {
    try {
      return [[new RegExp(source, "u"), sub]];
    } catch {
      return [];
    }
  });
  for (const [name, member] of Object.entries(value)) {
    const at = childPath(path, name);
    let matched = false;
    if (Object.hasOwn(properties, name)) {
      matched = true;
      validate(properties[name], member, at, root, problems, depth + 1);
    }
    for (const [pattern, sub] of patterns) {
      if (pattern.test(name)) {
        matched = true;
        validate(sub, member, at, root, problems, depth + 1);
      }
    }
    if (!matched && schema.additionalProperties !== undefined) {
      if (schema.additionalProperties === false) {
        const known = Object.keys(properties);
        const hint = known.length > 0 && known.length <= 12 ? ` (known: ${known.join(", ")})` : "";
        add(`is not a known member${hint}`, at);
      } else {
        validate(schema.additionalProperties, member, at, root, problems, depth + 1);
      }
    }
  }
}

/**
 * anyOf / oneOf: when no branch fits, the problems of the branch that came closest (the fewest
 * problems with the value itself, such as its type or a required member, then the fewest in
 * all) say what to fix; branch titles name the forms when none fits at all.
 */
function alternatives(branches, exactlyOne, value, path, root, problems, depth, add) {
  const results = branches.map((branch) => {
    const found = [];
    validate(branch, value, path, root, found, depth + 1);
    return { branch, found };
  });
  const fits = results.filter((r) => r.found.length === 0);
  if (fits.length === 0) {
    const atRoot = (r) => r.found.filter((p) => p.path === path).length;
    const closest = results.slice().sort((a, b) => atRoot(a) - atRoot(b) || a.found.length - b.found.length)[0];
    if (!closest) return;
    const shallow = closest.found.every((p) => p.path === path);
    if (shallow && results.length > 1) {
      const names = results.map((r) => r.branch?.title).filter(Boolean);
      add(names.length === results.length
        ? `must be one of the forms ${names.join(", ")}: ${closest.found[0].message}`
        : `matches none of the ${results.length} allowed forms (closest: ${closest.found[0].message})`);
    } else {
      problems.push(...closest.found);
    }
  } else if (exactlyOne && fits.length > 1) {
    add(`matches ${fits.length} of the allowed forms where exactly one is expected`);
  }
}
