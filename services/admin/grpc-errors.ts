/**
 * MeshgateError → gRPC error of the admin API: the status from the error catalog, the message
 * (which names the field), trailing metadata `meshgate-error-code` / `meshgate-error-field`, and
 * a google.rpc.Status with a google.rpc.ErrorInfo in `grpc-status-details-bin`, the standard
 * place rich-error clients look.
 */
import * as grpc from '@grpc/grpc-js';
import { ERRORS, GrpcStatus, MeshgateError, isMeshgateError, formatIssues } from '../core/errors.js';
import { Any } from '../gen/google/protobuf/any.js';
import { ErrorInfo, Status } from '../gen/google/rpc/status.js';

export const ERROR_CODE_KEY = 'meshgate-error-code';
export const ERROR_FIELD_KEY = 'meshgate-error-field';

export function toServiceError(e: unknown): Partial<grpc.StatusObject> & Error {
  const err = isMeshgateError(e) ? e : new MeshgateError('MG_INTERNAL', { detail: (e as Error)?.message ?? String(e), cause: e });
  const code = GrpcStatus[ERRORS[err.code].grpc];
  const details = err.message.includes('\n') || err.issues.length === 0 ? err.message : `${err.message}\n${formatIssues(err.issues)}`;
  const md = new grpc.Metadata();
  md.set(ERROR_CODE_KEY, err.code);
  if (err.field) md.set(ERROR_FIELD_KEY, err.field);
  const info = ErrorInfo.encode({ reason: err.code, domain: 'meshgate', metadata: err.field ? { field: err.field } : {} }).finish();
  const status = Status.encode({ code, message: details, details: [Any.fromPartial({ typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: Buffer.from(info) })] }).finish();
  md.set('grpc-status-details-bin', Buffer.from(status));
  return Object.assign(new Error(details), { code, details, metadata: md });
}
