import type { AddressInfo } from 'node:net';

/** Anything with node's `listen(port, host, cb)` / `address()` (net, http, http2 servers). */
export interface Listenable {
  listen(port: number, host: string, cb: () => void): unknown;
  address(): AddressInfo | string | null;
  once(event: 'error', fn: (e: Error) => void): unknown;
  off(event: 'error', fn: (e: Error) => void): unknown;
}

/** Binds a server; resolves with the bound address, rejects with the listen error (e.g. EADDRINUSE). */
export function listenOn(server: Listenable, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** `host:port`, with brackets around IPv6 hosts. */
export function formatAddr(a: { address: string; port: number }): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
