/**
 * The policy engine's CEL layer. Only files in this folder import `@marcbachmann/cel-js`;
 * everything else imports from here.
 */
export { EvalContext, type RetryScope } from './eval-context.js';
export {
  compileExpression,
  compileRetryCondition,
  describeEvaluationError,
  isCelError,
  MAX_EXPRESSION_LENGTH,
  type CompiledExpression,
  type ExpressionResult,
} from './environment.js';
export { compileTemplate, type Template, type TemplateResult } from './template.js';
export { celToJson, celToString } from './values.js';
export { regexProblem } from './regex-guard.js';
