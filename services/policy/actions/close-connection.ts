/**
 * `close-connection`: drop the client connection without answering. Terminating; no config.
 * The gateway closes the socket (for HTTP/2, the stream is reset).
 */
import { registerAction, type ActionDefinition } from './registry.js';

const CLOSE = Object.freeze({ kind: 'close' as const });

export const closeConnection: ActionDefinition<true> = {
  phases: ['on_tcp_connect', 'on_http_request'],
  fields: [],

  compile() {
    return true;
  },

  termination() {
    return 'always';
  },

  run() {
    return CLOSE;
  },
};

registerAction('close-connection', closeConnection);
