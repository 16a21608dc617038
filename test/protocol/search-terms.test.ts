import { describe, expect, it } from 'vitest';
import { matchRanges, searchTerms } from '../../protocol/search-terms.js';

describe('searchTerms: what a word is, one row per rule', () => {
  const rows: [string, string, string[]][] = [
    ['splits on spaces and punctuation', 'Deploy, on friday!', ['deploy', 'on', 'friday']],
    ['lower-cases', 'DEPLOY Deploy deploy', ['deploy']],
    ['keeps digits', 'v2 build 1234', ['v2', 'build', '1234']],
    ['other scripts are words too', 'Ärger übermorgen Привет 東京', ['ärger', 'übermorgen', 'привет', '東京']],
    ['NFKC folds ligatures and full-width letters', 'ﬁle ＡＢＣ', ['file', 'abc']],
    ['combining marks stay in the word', 'cafe\u0301 ok', ['café', 'ok']],
    ['apostrophes and hyphens separate', "don't re-run", ['don', 't', 're', 'run']],
    ['emoji and symbols are no words', '👍 -> 😀', []],
    ['a long word is cut to 64', 'x'.repeat(100), ['x'.repeat(64)]],
  ];
  it.each(rows)('%s', (_label, text, terms) => {
    expect(searchTerms(text)).toEqual(terms);
  });
});

describe('matchRanges: where to highlight', () => {
  it('marks whole words case-insensitively, in order', () => {
    const text = 'Deploy the deployment; DEPLOY now';
    expect(matchRanges(text, ['deploy']).map((r) => text.slice(r.start, r.end))).toEqual(['Deploy', 'DEPLOY']);
  });
  it('marks nothing without terms', () => {
    expect(matchRanges('anything', [])).toEqual([]);
  });
});
