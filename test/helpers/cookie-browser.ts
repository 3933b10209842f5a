/**
 * A browser made of plain HTTP for sign-in tests: it keeps cookies per host (host-only, as the
 * gateway sets them), sends `Accept: text/html`, and follows nothing by itself — each step is one
 * request, so tests can look at every redirect. URLs on `*.example.com` go to the edge's listener
 * with that Host header; any other URL (the test identity provider on 127.0.0.1) is called
 * directly.
 */
import { request } from 'undici';
import { client, send, type Answer } from './gateway.js';

export class CookieBrowser {
  private readonly jars = new Map<string, Map<string, string>>();

  constructor(
    /** host:port of the edge's http listener. */
    private readonly edge: string,
    private readonly accept = 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8',
  ) {}

  jar(host: string): Map<string, string> {
    let j = this.jars.get(host);
    if (!j) this.jars.set(host, (j = new Map()));
    return j;
  }

  /** GET `url` (absolute), with this host's cookies; stores the cookies the answer sets. */
  async get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
    const u = new URL(url);
    const jar = this.jar(u.host);
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const h: Record<string, string> = { accept: this.accept, ...(cookie ? { cookie } : {}), ...headers };
    let a: Answer;
    if (u.hostname.endsWith('.example.com')) {
      a = await send(this.edge, u.host, u.pathname + u.search, { headers: h });
    } else {
      const res = await request(url, { headers: h, dispatcher: client });
      const text = await res.body.text();
      a = { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
    }
    this.store(u.host, a.headers['set-cookie']);
    return a;
  }

  /** Follows one redirect of `a` (relative locations resolve against `from`). */
  follow(a: Answer, from: string): Promise<Answer> {
    const loc = a.headers.location;
    if (a.status < 300 || a.status > 399 || typeof loc !== 'string') throw new Error(`expected a redirect, got ${a.status}: ${a.text.slice(0, 300)}`);
    return this.get(new URL(loc, from).toString());
  }

  private store(host: string, setCookie: string | string[] | undefined): void {
    const jar = this.jar(host);
    for (const line of setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie]) {
      const [pair, ...attrs] = line.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const gone = attrs.some((x) => /^\s*max-age=0\s*$/i.test(x));
      if (gone) jar.delete(name);
      else jar.set(name, value);
    }
  }
}

/** Names of the cookies in a set-cookie header value (for assertions). */
export function setCookieNames(h: string | string[] | undefined): string[] {
  return (h === undefined ? [] : Array.isArray(h) ? h : [h]).map((l) => l.slice(0, l.indexOf('=')));
}
