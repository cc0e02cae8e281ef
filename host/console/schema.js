// A JSON Schema (draft 2020-12) checker for the subset policy schemas use: type, enum, const,
// properties, required, additionalProperties, patternProperties, propertyNames,
// min/maxProperties, items, min/max(Items|Length), minimum, maximum, exclusiveMinimum,
// exclusiveMaximum, pattern, format date-time, $ref to #/$defs, oneOf, anyOf, allOf, not.
// Problems are `{path, message}`, paths in the form the server uses (`rules[3].when`).

import { childPath } from "./jsondoc.js";

const MAX_PROBLEMS = 100;
const DATE_TIME = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

/** Every problem of `value` against `schema` (at most 100). */
export function check(schema, value) {
  const problems = [];
  validate(schema, value, "", schema, problems, 0);
  return problems.slice(0, MAX_PROBLEMS).map(({ path, message }) => ({ path, message }));
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
      problems.push({ path, message: `must be ${types.map(article).join(" or ")}, not ${article(typeOf(value))}`, type: true });
      return;
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => equal(e, value))) {
    const listed = schema.enum.slice(0, 10).map(show).join(", ");
    add(`must be one of ${listed}${schema.enum.length > 10 ? `, … (${schema.enum.length} values)` : ""}`);
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
  if (schema.not !== undefined) {
    const found = [];
    validate(schema.not, value, path, root, found, depth + 1);
    if (found.length === 0) {
      add(schema.not && Object.hasOwn(schema.not, "const") ? `must not be ${show(schema.not.const)}` : "is a value that is not allowed here");
    }
  }
}

/** The types a branch allows (following a $ref), for "must be a string or an object". */
function typeNames(branch, root, depth = 0) {
  if (!branch || typeof branch !== "object" || depth > 16) return [];
  if (branch.type !== undefined) return Array.isArray(branch.type) ? branch.type : [branch.type];
  if (typeof branch.$ref === "string") return typeNames(resolve(root, branch.$ref), root, depth + 1);
  const nested = branch.anyOf ?? branch.oneOf;
  return Array.isArray(nested) ? nested.flatMap((b) => typeNames(b, root, depth + 1)) : [];
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
  if (schema.format === "date-time" && !DATE_TIME.test(value)) {
    add("must be an RFC 3339 date-time with an offset, like 2026-12-01T00:00:00Z");
  }
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
  const count = Object.keys(value).length;
  if (Number.isInteger(schema.minProperties) && count < schema.minProperties) add(`must have at least ${schema.minProperties} member${schema.minProperties === 1 ? "" : "s"}`);
  if (Number.isInteger(schema.maxProperties) && count > schema.maxProperties) add(`must have at most ${schema.maxProperties} member${schema.maxProperties === 1 ? "" : "s"}`);
  if (schema.propertyNames !== undefined) {
    for (const name of Object.keys(value)) {
      const found = [];
      validate(schema.propertyNames, name, path, root, found, depth + 1);
      if (found.length) {
        add(Array.isArray(schema.propertyNames.enum)
          ? `has an unknown member name ${show(name)}`
          : `has the member name ${show(name)}, which ${found[0].message}`);
      }
    }
  }
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
 * anyOf / oneOf: when no branch fits, the problems of the branch that came closest (one of the
 * value's type, then the fewest problems with the value itself such as a required member, then
 * the fewest in all) say what to fix; branch titles name the forms when none fits at all.
 */
function alternatives(branches, exactlyOne, value, path, root, problems, depth, add) {
  const results = branches.map((branch) => {
    const found = [];
    validate(branch, value, path, root, found, depth + 1);
    return { branch, found };
  });
  const fits = results.filter((r) => r.found.length === 0);
  if (fits.length === 0) {
    const wrongType = (r) => Number(r.found.some((p) => p.path === path && p.type));
    const atRoot = (r) => r.found.filter((p) => p.path === path).length;
    const closest = results.slice().sort((a, b) =>
      wrongType(a) - wrongType(b) || atRoot(a) - atRoot(b) || a.found.length - b.found.length)[0];
    if (!closest) return;
    if (wrongType(closest) && results.length > 1) {
      const names = results.map((r) => r.branch?.title).filter(Boolean);
      add(names.length === results.length
        ? `must be one of the forms ${names.join(", ")}: ${closest.found[0].message}`
        : `must be ${[...new Set(results.flatMap((r) => typeNames(r.branch, root)))].map(article).join(" or ") || "of another form"}`);
    } else {
      problems.push(...closest.found);
    }
  } else if (exactlyOne && fits.length > 1) {
    add(`matches ${fits.length} of the allowed forms where exactly one is expected`);
  }
}
