/**
 * Loads every built-in action; each file registers itself by its user-facing name. Add a line
 * here for each new action file.
 */
import './forward-internal.js';
import './custom-response.js';
import './deny.js';
import './add-headers.js';
import './remove-headers.js';
import './url-rewrite.js';
import './redirect.js';
import './set-vars.js';
import './log.js';
import './close-connection.js';
import './restrict-ips.js';
import './basic-auth.js';
import './rate-limit.js';
import './circuit-breaker.js';
import './jwt-validation.js';
import './verify-webhook.js';
import './request-body-find-replace.js';
import './compress-response.js';
import './terminate-tls.js';
import './http-request.js';
import './response-body-find-replace.js';
import './openid-connect.js';
import './oauth.js';
