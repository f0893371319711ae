/** Builders shared by the render tests: a definition from a few elements, and a render that must succeed. */
import assert from 'node:assert/strict';
import { normalizeDefinition, validateDefinition, type TemplateDefinitionInput } from '../../../src/modules/templates/render/definition.js';
import { compileTemplate, renderTemplate, type RenderOptions, type RenderOutput, type RenderState } from '../../../src/modules/templates/render/render.js';

/** An Email root with one Section holding `blocks` (keys of `elements`), plus the elements themselves. */
export function emailWith(blocks: string[], elements: Record<string, unknown>, extra: TemplateDefinitionInput = {}): TemplateDefinitionInput {
  return {
    subject: 'Subject',
    ...extra,
    body: {
      root: 'email',
      elements: {
        email: { type: 'Email', props: {}, children: ['main'] },
        main: { type: 'Section', props: {}, children: blocks },
        ...(elements as Record<string, never>),
      },
    },
  };
}

export interface RenderCase {
  definition: TemplateDefinitionInput;
  state?: RenderState;
  purpose?: string;
  language?: string;
  options?: RenderOptions;
  /** Skip the check that the definition is valid (to exercise the renderer's own defences). */
  invalid?: boolean;
}

export function render({ definition, state = {}, purpose = 'Transactional', language = 'en', options, invalid = false }: RenderCase): RenderOutput {
  if (!invalid) assert.deepEqual(validateDefinition(definition), [], 'the test definition is valid');
  const result = renderTemplate(compileTemplate(normalizeDefinition(definition), { purpose, language }), state, options);
  assert.ok(result.ok, `render failed: ${result.ok ? '' : result.error.reason}`);
  return result.value;
}

/** The rendered blocks: the part of the HTML inside the content cell of the container. */
export function content(html: string): string {
  const open = 'line-height:1.5;text-align:left;">\n';
  const start = html.indexOf(open) + open.length;
  const footer = html.indexOf('<tr><td class="sf-footer"');
  const end = footer >= 0 ? footer : html.lastIndexOf('</table>\n</td></tr>\n</table>\n</body>');
  const close = '</td></tr>\n';
  assert.equal(html.slice(end - close.length, end), close);
  return html.slice(start, end - close.length);
}
