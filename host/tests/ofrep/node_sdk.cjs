// OpenFeature's Node server SDK with its OFREP provider against a running tailor node
// (tests/ofrep.rs starts it): a string flag (hero-banner's variant), an object flag (a
// policy whose config makes the render map the value), an unknown flag (the default and
// FLAG_NOT_FOUND), and the bulk evaluation with a 304 for an unchanged second call. The
// server provider evaluates one flag a request; the bulk call goes through the same
// provider library's OFREP client (`OFREPApi`, which the web provider polls with).
// Usage: node node_sdk.cjs BASE_URL API_TOKEN CUSTOMER EXPECTED_VARIANT OBJECT_FLAG
'use strict';
const assert = require('node:assert/strict');
const { OpenFeature, ErrorCode } = require('@openfeature/server-sdk');
const { OFREPProvider } = require('@openfeature/ofrep-provider');
const { OFREPApi } = require('@openfeature/ofrep-core');

const [base, token, customer, expectedVariant, objectFlag] = process.argv.slice(2);

async function main() {
  const headers = { Authorization: `Bearer ${token}` };
  await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: base, headers }));
  const client = OpenFeature.getClient();
  const context = { targetingKey: customer, channel: 'web', page: { kind: 'home' }, locale: 'en-GB' };

  const string = await client.getStringDetails('hero-banner', 'fallback', context);
  assert.equal(string.errorCode, undefined, JSON.stringify(string));
  assert.equal(string.value, expectedVariant, JSON.stringify(string));
  assert.equal(string.variant, expectedVariant);
  assert.ok(['TARGETING_MATCH', 'SPLIT', 'DEFAULT', 'STATIC'].includes(string.reason), string.reason);
  assert.match(String(string.flagMetadata.version), /^sha256:/);

  const object = await client.getObjectDetails(objectFlag, {}, context);
  assert.equal(object.errorCode, undefined, JSON.stringify(object));
  assert.equal(typeof object.value.headline, 'string', JSON.stringify(object));
  assert.equal(object.variant, expectedVariant);

  const unknown = await client.getStringDetails('no-such-flag', 'fallback', context);
  assert.equal(unknown.value, 'fallback');
  assert.equal(unknown.errorCode, ErrorCode.FLAG_NOT_FOUND, JSON.stringify(unknown));

  const api = new OFREPApi(base);
  const first = await api.postBulkEvaluateFlags({ context }, { headers });
  assert.equal(first.httpStatus, 200);
  const hero = first.value.flags.find((flag) => flag.key === 'hero-banner');
  assert.equal(hero.value, expectedVariant, JSON.stringify(first.value));
  const etag = first.httpResponse.headers.get('ETag');
  assert.ok(etag, 'the bulk answer has an ETag');
  const second = await api.postBulkEvaluateFlags(
    { context },
    { headers: { ...headers, 'If-None-Match': etag } },
  );
  assert.equal(second.httpStatus, 304);
  assert.equal(second.value, undefined);
  console.log(`ok: ${string.value}, ${Object.keys(object.value).join('/')}, ${first.value.flags.length} flags`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
