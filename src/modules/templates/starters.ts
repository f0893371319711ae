/**
 * Starter templates (templates.md §7): ready-to-send definitions so a new user can send
 * something within minutes. Bootstrap creates them in the default organization and
 * `segmentflow templates import --starter <name>` loads one anywhere. Each is a Template create
 * body, the same shape `templates import <file.json>` reads.
 */
import type { TemplateInput } from './templates.service.js';

/** A Template create body (`POST /api/v1/templates`): what a template file and a starter hold. */
export type TemplateFile = TemplateInput & { name: string };

const footer = (text: string) => ({ type: 'Text', props: { text, fontSize: 12, color: '#71717a', align: 'center' } });

const orderConfirmation: TemplateFile = {
  name: 'Order confirmation',
  purpose: 'Transactional',
  definition: {
    subject: { $template: 'Order ${/data/orderId} confirmed' },
    preheader: { $template: 'Thanks for your order, ${/profile/firstName}' },
    body: {
      root: 'email',
      elements: {
        email: { type: 'Email', props: {}, children: ['main', 'foot'] },
        main: { type: 'Section', props: { padding: '32px 24px' }, children: ['title', 'intro', 'items', 'cta'] },
        title: { type: 'Heading', props: { text: { $template: 'Order ${/data/orderId} confirmed' } } },
        intro: { type: 'Text', props: { text: { $template: 'Hi ${/profile/firstName}, thanks for your order. Here is what you bought:' } } },
        items: {
          type: 'Table',
          props: {
            columns: [
              { header: 'Item', path: '/name' },
              { header: 'Qty', path: '/quantity', align: 'center' },
              { header: 'Price', path: '/price', align: 'right' },
            ],
            rows: { $state: '/data/items' },
            footer: [{ label: 'Total', value: { $state: '/data/total' } }],
          },
        },
        cta: { type: 'Button', props: { label: 'View your order', href: { $state: '/data/orderUrl' } } },
        foot: { type: 'Section', props: { padding: '16px 24px' }, children: ['footText'] },
        footText: footer('You receive this email because you placed an order.'),
      },
    },
  },
};

const welcome: TemplateFile = {
  name: 'Welcome',
  purpose: 'Transactional',
  definition: {
    subject: { $template: 'Welcome, ${/profile/firstName}!' },
    preheader: 'Everything you need to get started',
    body: {
      root: 'email',
      elements: {
        email: { type: 'Email', props: {}, children: ['main'] },
        main: { type: 'Section', props: { padding: '32px 24px' }, children: ['title', 'intro', 'cta', 'signoff'] },
        title: { type: 'Heading', props: { text: { $template: 'Welcome aboard, ${/profile/firstName}!' } } },
        intro: { type: 'Text', props: { text: 'We are glad to have you. Your account is ready: start by completing your profile.' } },
        cta: { type: 'Button', props: { label: 'Get started', href: { $state: '/data/startUrl' } } },
        signoff: { type: 'Text', props: { text: { $template: 'Questions? Just reply to this email.\n— The ${/variables/productName} team' } } },
      },
    },
    renderVariables: { productName: 'Segmentflow' },
  },
};

const passwordReset: TemplateFile = {
  name: 'Password reset',
  purpose: 'Transactional',
  definition: {
    subject: 'Reset your password',
    preheader: 'This link expires in 1 hour',
    body: {
      root: 'email',
      elements: {
        email: { type: 'Email', props: {}, children: ['main'] },
        main: { type: 'Section', props: { padding: '32px 24px' }, children: ['title', 'intro', 'cta', 'note'] },
        title: { type: 'Heading', props: { text: 'Reset your password' } },
        intro: { type: 'Text', props: { text: 'Someone asked to reset the password of your account. Use the button below within the next hour.' } },
        cta: { type: 'Button', props: { label: 'Choose a new password', href: { $state: '/data/resetUrl' } } },
        note: footer("If you didn't ask for this, you can ignore this email: your password stays the same."),
      },
    },
    // The reset link is a credential: it is deleted from the stored send once rendered.
    sensitiveTransactionalVariablePaths: ['/data/resetUrl'],
  },
};

export const STARTER_TEMPLATES = {
  'order-confirmation': orderConfirmation,
  welcome,
  'password-reset': passwordReset,
} as const satisfies Record<string, TemplateFile>;

export type StarterName = keyof typeof STARTER_TEMPLATES;
