/**
 * Loads every built-in action; each file registers itself by its user-facing name. Add a line
 * here for each new action file.
 */
import './forward-internal.js';
import './custom-response.js';
import './deny.js';
