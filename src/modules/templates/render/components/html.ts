/**
 * Html: trusted markup inserted as is; only values interpolated by its `$template` are escaped.
 * Its plain text comes from html-to-text, computed once when the markup is a literal.
 */
import { compileTrustedHtml } from '../compile-value.js';
import { htmlToPlainText } from '../plain-text.js';
import { isDynamicValue } from '../validate-expression.js';
import { emitText } from '../walk.js';
import type { ComponentCompiler } from './shared.js';

export const compileHtml: ComponentCompiler = (props) => {
  const html = compileTrustedHtml(props.html);
  const literal = typeof props.html === 'string' && !isDynamicValue(props.html) ? props.html : undefined;
  let literalText: string | undefined; // computed on first use: most renders of a plan need it, compiling alone does not
  return {
    render(_node, run, scope) {
      const markup = html(run, scope);
      run.html += markup + '\n';
      if (run.text === undefined) return;
      if (literal !== undefined) emitText(run, (literalText ??= htmlToPlainText(literal)));
      else emitText(run, htmlToPlainText(markup));
    },
  };
};
