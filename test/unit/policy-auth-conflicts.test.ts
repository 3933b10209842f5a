import assert from 'node:assert/strict';
import { AGENT, compileOk, issueAt, issuesOf } from './policy-fixtures.js';

const BASIC = `{type: basic-auth, config: {credentials: ["ops:correct-horse"]}}`;
const JWT_AUTH = `{type: jwt-validation, config: {issuer: {allow_list: [{value: "https://idp.example.com/"}]}, jws: {allowed_algorithms: [HS256], keys: {inline: [{secret: "0123456789abcdef0123456789abcdef"}]}}}}`;
const JWT_HEADER = `{type: jwt-validation, config: {issuer: {allow_list: [{value: "https://idp.example.com/"}]}, http: {tokens: [{type: jwt, method: header, name: x-jwt, prefix: ""}]}, jws: {allowed_algorithms: [HS256], keys: {inline: [{secret: "0123456789abcdef0123456789abcdef"}]}}}}`;
const oidc = (authId?: string) => `{type: openid-connect, config: {issuer_url: "https://idp.example.com", client_id: app, client_secret: s3cret${authId ? `, auth_id: ${authId}` : ''}}}`;

describe('Traffic Policy: several auth actions on one endpoint (meshgate extension)', () => {
  it('accepts ordered auth actions that read different credentials (jwt in x-jwt, then basic-auth)', () => {
    compileOk(`on_http_request:\n  - actions: [${JWT_HEADER}, ${BASIC}]\n`, AGENT);
  });

  it('refuses basic-auth after a jwt-validation reading Authorization: no request can pass both', () => {
    const issue = issueAt(issuesOf(`on_http_request:\n  - actions: [${JWT_AUTH}]\n  - actions: [${BASIC}]\n`, AGENT), 'on_http_request[1].actions[0]');
    assert.match(issue.message, /basic-auth and jwt-validation at on_http_request\[0\]\.actions\[0\] both require the 'authorization' header/);
    assert.match(issue.message, /enforce: false/);
  });

  it('accepts the same credential in rules that both have expressions (different requests)', () => {
    compileOk(`on_http_request:\n  - expressions: ["req.url.path.startsWith('/admin')"]\n    actions: [${BASIC}]\n  - expressions: ["req.url.path.startsWith('/ops')"]\n    actions: [${BASIC}]\n`, AGENT);
  });

  it('refuses it when one of the two rules matches every request', () => {
    const issues = issuesOf(`on_http_request:\n  - expressions: ["req.url.path.startsWith('/admin')"]\n    actions: [${BASIC}]\n  - actions: [${BASIC}]\n`, AGENT);
    assert.ok(issueAt(issues, 'on_http_request[1].actions[0]'));
  });

  it('accepts basic-auth with enforce: false next to a jwt-validation on Authorization', () => {
    compileOk(`on_http_request:\n  - actions: [${JWT_AUTH}, {type: basic-auth, config: {credentials: ["ops:correct-horse"], enforce: false}}]\n`, AGENT);
  });

  it('refuses two sign-in actions sharing a session, and accepts them with distinct auth_ids', () => {
    const issue = issueAt(issuesOf(`on_http_request:\n  - actions: [${oidc()}, ${oidc()}]\n`, AGENT), 'on_http_request[0].actions[1]');
    assert.match(issue.message, /share one sign-in session/);
    assert.match(issue.message, /distinct auth_id/);
    compileOk(`on_http_request:\n  - actions: [${oidc('staff')}, ${oidc('partners')}]\n`, AGENT);
  });
});
