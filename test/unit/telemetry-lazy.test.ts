/**
 * Tracing off must cost nothing: the edge and the agent reach OpenTelemetry only through the
 * `import()` in services/telemetry/tracing.ts. This walks the static imports of the compiled
 * commands (what Node loads before any code runs) and fails if one leads to @opentelemetry/*.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** `import ... from 'x'`, `export ... from 'x'`, `import 'x'` at the start of a statement; not `import('x')`. */
const STATIC_IMPORT = /(?:^|[;\n])\s*(?:import|export)\s+(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/g;

/** Bare specifiers reached from `entry` through static imports, with one path that reaches each. */
function staticPackages(entry: string): Map<string, string[]> {
  const packages = new Map<string, string[]>();
  const seen = new Set<string>();
  const todo: Array<{ file: string; via: string[] }> = [{ file: entry, via: [] }];
  while (todo.length > 0) {
    const { file, via } = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(STATIC_IMPORT)) {
      const spec = m[1];
      const chain = [...via, file.slice(DIST.length + 1)];
      if (spec.startsWith('.')) todo.push({ file: resolve(dirname(file), spec), via: chain });
      else if (!packages.has(spec)) packages.set(spec, chain);
    }
  }
  return packages;
}

describe('tracing off loads no OpenTelemetry code', () => {
  for (const command of ['edge', 'agent']) {
    it(`has no static import path from \`meshgate ${command}\` to @opentelemetry/*`, () => {
      const entry = join(DIST, 'services', 'cli', 'commands', `${command}.js`);
      assert.ok(existsSync(entry), `${entry} is not built`);
      const otel = [...staticPackages(entry)].filter(([p]) => p.startsWith('@opentelemetry/'));
      assert.deepEqual(otel.map(([p, via]) => `${p} via ${via.join(' -> ')}`), []);
    });
  }

  it('loads ioredis only for an edge with redis: (its `class extends String` slows every charCodeAt loop, the OTLP serializer among them)', () => {
    const via = staticPackages(join(DIST, 'services', 'cli', 'commands', 'edge.js')).get('ioredis');
    assert.equal(via, undefined, `ioredis is imported statically via ${via?.join(' -> ')}`);
  });

  it('loads only the trace SDK when tracing is on: no NodeSDK, metrics or logs SDK, and an exporter only for the protocol in use', () => {
    const pkgs = [...staticPackages(join(DIST, 'services', 'telemetry', 'otel-sdk.js')).keys()];
    const heavy = pkgs.filter((p) => /^@opentelemetry\/(sdk-node|sdk-metrics|sdk-logs|exporter-|otlp-grpc-exporter-base|otlp-transformer)/.test(p));
    assert.deepEqual(heavy, []);
  });

  it('finds the imports it looks for (the SDK bootstrap does import OpenTelemetry)', () => {
    const pkgs = staticPackages(join(DIST, 'services', 'telemetry', 'otel-sdk.js'));
    assert.ok(pkgs.has('@opentelemetry/sdk-trace-node'), [...pkgs.keys()].join(', '));
    assert.ok(staticPackages(join(DIST, 'services', 'cli', 'commands', 'edge.js')).has('node:http2'));
  });
});
