/**
 * Injection and escaping (templates.md §6.1, §6.2, §6.4; acceptance examples 6 and 7): substituted
 * values are data, never markup or headers; only http(s) (and mailto where allowed) URLs survive.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emailWith, render } from './support.js';

test('script tags and quotes in values are escaped in text and attributes', () => {
  const out = render({
    definition: emailWith(['t', 'img', 'b'], {
      t: { type: 'Text', props: { text: { $template: 'Hi ${/profile/name}' } } },
      img: { type: 'Image', props: { src: { $template: 'https://cdn.test/${/profile/name}.png' }, alt: { $state: '/profile/name' } } },
      b: { type: 'Button', props: { label: { $state: '/profile/name' }, href: { $state: '/data/url' } } },
    }),
    state: { profile: { name: `<script>alert("x")</script>' onerror='x` }, data: { url: `https://x.test/?q="><script>` } },
  });
  assert.equal(out.html.includes('<script>'), false);
  assert.ok(out.html.includes('Hi &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onerror=&#39;x'));
  assert.ok(out.html.includes(`alt="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onerror=&#39;x"`));
  // Inside a URL, a ${…} value is percent-encoded; a URL that is one whole value is only escaped.
  assert.ok(out.html.includes('src="https://cdn.test/%3Cscript%3Ealert(%22x%22)%3C%2Fscript%3E&#39;%20onerror%3D&#39;x.png"'));
  assert.ok(out.html.includes('href="https://x.test/?q=&quot;&gt;&lt;script&gt;"'));
});

test('acceptance example 6: javascript: href renders the label without a link; a data: image is omitted', () => {
  const out = render({
    definition: emailWith(['b', 'img', 'l', 't'], {
      b: { type: 'Button', props: { label: 'Click', href: 'javascript:alert(1)' } },
      img: { type: 'Image', props: { src: { $state: '/data/img' }, alt: 'pixel' } },
      l: { type: 'Link', props: { text: 'Docs', href: ' JavaScript:alert(1)' } },
      t: { type: 'Text', props: { text: 'See' }, children: ['inline'] },
      inline: { type: 'Link', props: { text: 'here', href: { $state: '/data/rel' } } },
    }),
    state: { data: { img: 'data:image/png;base64,iVBORw0KGgo=', rel: '/relative/path' } },
  });
  assert.equal(/javascript|data:image|relative/i.test(out.html), false);
  assert.equal(out.html.includes('<img'), false);
  assert.equal(out.html.includes('<a '), false);
  assert.ok(out.html.includes('>Click</span>'));
  assert.ok(out.html.includes('<span>Docs</span>'));
  assert.ok(out.html.includes('See <span>here</span>'));
  assert.equal(out.text, 'Click\n\nDocs\n\nSee here');
});

test('URL allow-list: http(s) any case, trimmed; mailto only where allowed', () => {
  const out = render({
    definition: emailWith(['a', 'b', 'c', 'img', 'img2'], {
      a: { type: 'Link', props: { text: 'a', href: '  HTTPS://Example.test/a  ' } },
      b: { type: 'Button', props: { label: 'b', href: 'MailTo:help@example.test' } },
      c: { type: 'Link', props: { text: 'c', href: 'vbscript:x' } },
      img: { type: 'Image', props: { src: 'http://cdn.test/i.png', alt: 'i', href: 'mailto:x@example.test' } },
      img2: { type: 'Image', props: { src: 'mailto:x@example.test', alt: 'gone' } },
    }),
  });
  assert.ok(out.html.includes('href="HTTPS://Example.test/a"'));
  assert.ok(out.html.includes('href="MailTo:help@example.test"'));
  assert.ok(out.html.includes('<span>c</span>'));
  assert.ok(out.html.includes('<img src="http://cdn.test/i.png" alt="i"'));
  assert.equal(out.html.includes('mailto:x@'), false, 'Image href does not allow mailto');
  assert.equal(out.html.includes('gone'), false);
});

test('a substituted value is never parsed as a template again', () => {
  const out = render({
    definition: emailWith(['t'], { t: { type: 'Text', props: { text: { $template: 'A ${/data/x} B' } } } }, { subject: { $template: 'S ${/data/x}' } }),
    state: { data: { x: '${/data/secret}', secret: 'LEAK' } },
  });
  assert.equal(out.subject, 'S ${/data/secret}');
  assert.ok(out.html.includes('A ${/data/secret} B'));
  assert.equal(out.html.includes('LEAK'), false);
});

test('acceptance example 7: CR/LF and other controls in header fields become spaces, one line', () => {
  const out = render({
    definition: {
      subject: { $template: 'Hi ${/data/name}' },
      preheader: { $template: '${/data/pre}' },
      from: { $template: '${/data/from}' },
      replyTo: { $template: ' ${/data/name} ' },
    },
    state: { data: { name: 'A\r\nBcc: x@evil.test', pre: '\u0000a\tb\u2028c\u007f', from: 'Shop\n<shop@example.test>' } },
  });
  assert.equal(out.subject, 'Hi A  Bcc: x@evil.test');
  assert.equal(out.preheader, 'a b c');
  assert.equal(out.from, 'Shop <shop@example.test>');
  assert.equal(out.replyTo, 'A  Bcc: x@evil.test');
  for (const value of [out.subject, out.preheader, out.from, out.replyTo]) assert.equal(/[\u0000-\u001f\u007f]/.test(value), false);
  // Header fields are plain text; the <title> is their HTML-escaped form.
  const tagged = render({ definition: { subject: { $template: '${/data/s}' } }, state: { data: { s: '<b>&</b>' } } });
  assert.equal(tagged.subject, '<b>&</b>');
  assert.ok(tagged.html.includes('<title>&lt;b&gt;&amp;&lt;/b&gt;</title>'));
});

test('the subject is cut to 998 characters without splitting a surrogate pair', () => {
  const out = render({ definition: { subject: { $template: '${/data/s}' } }, state: { data: { s: 'a'.repeat(997) + '😀' + 'b'.repeat(10) } } });
  assert.equal(out.subject, 'a'.repeat(997));
  const long = render({ definition: { subject: { $template: '${/data/s}' } }, state: { data: { s: 'x'.repeat(2000) } } });
  assert.equal(long.subject.length, 998);
});

test('Html is trusted literal markup; only its $template values are escaped', () => {
  const out = render({
    definition: emailWith(['h'], { h: { type: 'Html', props: { html: { $template: '<p class="x"><b>Hi</b> ${/profile/name}</p><a href="https://x.test/${/profile/name}">x</a>' } } } }),
    state: { profile: { name: '<img src=x onerror=alert(1)>' } },
  });
  assert.ok(out.html.includes('<p class="x"><b>Hi</b> &lt;img src=x onerror=alert(1)&gt;</p>'));
  assert.ok(out.html.includes('<a href="https://x.test/&lt;img src=x onerror=alert(1)&gt;">x</a>'));
  assert.equal(out.html.includes('<img'), false);
});

test('style values cannot break out: invalid dynamic colors, sizes and fonts fall back to defaults', () => {
  const out = render({
    definition: emailWith(['h', 't'], {
      h: { type: 'Heading', props: { text: 'x', color: { $state: '/data/c' }, level: { $state: '/data/l' } } },
      t: { type: 'Text', props: { text: 'y', fontSize: { $state: '/data/s' }, align: { $state: '/data/a' } } },
    }),
    state: { data: { c: 'red;background:url(https://evil.test)', l: 9, s: '12px;x', a: 'center"' } },
  });
  assert.equal(out.html.includes('evil'), false);
  assert.ok(out.html.includes('<h1 style="margin:0 0 12px;'));
  assert.ok(out.html.includes('font-size:16px;line-height:1.5;color:#18181b;text-align:left;">y</p>'));
});
