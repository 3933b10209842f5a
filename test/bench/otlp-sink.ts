/**
 * The collector of the `meshgate-traced` bench target: accepts OTLP/HTTP trace exports
 * (`POST /v1/traces`, protobuf or JSON), reads and discards them, answers 200 as a collector
 * does. `GET /stats` returns `{requests, bytes}` received so far. It runs on the load CPU, like
 * a collector on another machine: its cost is not the proxy's.
 *
 * Usage: node dist/test/bench/otlp-sink.js — listens on 127.0.0.1:0 and prints one JSON line
 * with "msg":"ready" and its listener on stderr.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

let requests = 0;
let bytes = 0;

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ requests, bytes }));
    return;
  }
  req.on('data', (c: Buffer) => {
    bytes += c.length;
  });
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
    requests++;
    const json = String(req.headers['content-type']).startsWith('application/json');
    res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
  });
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stderr.write(JSON.stringify({ msg: 'ready', listeners: { http: `127.0.0.1:${port}` } }) + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
