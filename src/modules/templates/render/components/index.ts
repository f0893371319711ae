/** The component compilers by catalog type (Email's own props are handled by the document). */
import type { ComponentType } from '../catalog.js';
import { compileHtml } from './html.js';
import { compileColumn, compileColumns, compileSection } from './layout.js';
import { compileButton, compileDivider, compileImage, compileSpacer } from './media.js';
import type { ComponentCompiler } from './shared.js';
import { compileTable } from './table.js';
import { compileHeading, compileLink, compileList, compileListItem, compileTextBlock } from './text.js';
import { renderChildren } from '../walk.js';

const compileEmailContent: ComponentCompiler = () => ({ render: renderChildren });

export const COMPONENT_COMPILERS: Readonly<Record<ComponentType, ComponentCompiler>> = {
  Email: compileEmailContent,
  Section: compileSection,
  Columns: compileColumns,
  Column: compileColumn,
  Heading: compileHeading,
  Text: compileTextBlock,
  Button: compileButton,
  Image: compileImage,
  Link: compileLink,
  Divider: compileDivider,
  Spacer: compileSpacer,
  List: compileList,
  ListItem: compileListItem,
  Table: compileTable,
  Html: compileHtml,
};
