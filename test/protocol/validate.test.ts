import { describe, expect, it } from 'vitest';
import { parseRequest, validateRequest } from '../../protocol/validate.js';

describe('parseRequest: one row per rule', () => {
  const rows: [string, string, string | null, unknown?][] = [
    // [label, json, expected error code or null when valid, expected re]
    ['not JSON', '{nope', 'bad_json'],
    ['array', '[1,2]', 'bad_request'],
    ['string', '"hello"', 'bad_request'],
    ['null', 'null', 'bad_request'],
    ['number', '42', 'bad_request'],
    ['no type', '{"name":"a"}', 'bad_request'],
    ['numeric type', '{"type":7}', 'bad_request'],
    ['unknown type', '{"type":"dance","id":1}', 'unknown_type', 1],
    ['prototype key as type', '{"type":"toString"}', 'unknown_type'],
    ['bad id: object', '{"type":"ping","id":{}}', 'bad_request'],
    ['bad id: long string', `{"type":"ping","id":"${'x'.repeat(65)}"}`, 'bad_request'],
    ['bad id: float', '{"type":"ping","id":1.5}', 'bad_request'],
    ['ok id: 64 chars', `{"type":"ping","id":"${'x'.repeat(64)}"}`, null],
    ['hello ok', '{"type":"hello","name":"Al_i-c.e9"}', null],
    ['hello without name', '{"type":"hello","id":"h"}', 'bad_request', 'h'],
    ['hello name too long', `{"type":"hello","name":"${'a'.repeat(33)}"}`, 'bad_name'],
    ['hello name 32', `{"type":"hello","name":"${'a'.repeat(32)}"}`, null],
    ['hello name with space', '{"type":"hello","name":"a b"}', 'bad_name'],
    ['hello name empty', '{"type":"hello","name":""}', 'bad_name'],
    ['hello name number', '{"type":"hello","name":5}', 'bad_name'],
    ['hello name unicode', '{"type":"hello","name":"zoë"}', 'bad_name'],
    ['hello protocol string', '{"type":"hello","name":"a","protocol":"1"}', 'bad_request'],
    ['hello client too long', `{"type":"hello","name":"a","client":"${'c'.repeat(129)}"}`, 'bad_request'],
    ['join bad room', '{"type":"join","room":"no/slash"}', 'bad_room'],
    ['join history too big', '{"type":"join","room":"r","history":1001}', 'bad_request'],
    ['join history negative', '{"type":"join","room":"r","history":-1}', 'bad_request'],
    ['join since', '{"type":"join","room":"r","since":0}', null],
    ['say ok', '{"type":"say","room":"r","text":"hi"}', null],
    ['say no text', '{"type":"say","room":"r"}', 'bad_text'],
    ['say empty text', '{"type":"say","room":"r","text":""}', 'bad_text'],
    ['say NUL', '{"type":"say","room":"r","text":"a\\u0000b"}', 'bad_text'],
    ['say number text', '{"type":"say","room":"r","text":5}', 'bad_text'],
    ['say 4000 chars', `{"type":"say","room":"r","text":"${'a'.repeat(4000)}"}`, null],
    ['say 4001 chars', `{"type":"say","room":"r","text":"${'a'.repeat(4001)}"}`, 'bad_text'],
    ['say 4000 astral chars', `{"type":"say","room":"r","text":"${'😀'.repeat(4000)}"}`, null],
    ['say 4001 astral chars', `{"type":"say","room":"r","text":"${'😀'.repeat(4001)}"}`, 'bad_text'],
    ['say action not bool', '{"type":"say","room":"r","text":"x","action":"yes"}', 'bad_request'],
    ['say mid', '{"type":"say","room":"r","text":"x","mid":"m-1"}', null],
    ['say mid 64 chars', `{"type":"say","room":"r","text":"x","mid":"${'m'.repeat(64)}"}`, null],
    ['say mid 65 chars', `{"type":"say","room":"r","text":"x","mid":"${'m'.repeat(65)}"}`, 'bad_request'],
    ['say mid empty', '{"type":"say","room":"r","text":"x","mid":""}', 'bad_request'],
    ['say mid number', '{"type":"say","room":"r","text":"x","mid":7}', 'bad_request'],
    ['dm mid NUL', '{"type":"dm","to":"b","text":"x","mid":"a\\u0000"}', 'bad_request'],
    ['dm bad to', '{"type":"dm","to":"","text":"x"}', 'bad_name'],
    ['who no room', '{"type":"who"}', null],
    ['who bad room', '{"type":"who","room":"!"}', 'bad_room'],
    ['history limit 0', '{"type":"history","room":"r","limit":0}', 'bad_request'],
    ['history before', '{"type":"history","room":"r","before":10,"limit":5}', null],
    ['history with a user', '{"type":"history","with":"bob","before":3}', null],
    ['history with a bad name', '{"type":"history","with":"b b"}', 'bad_name'],
    ['history with neither room nor with', '{"type":"history","limit":5,"id":4}', 'bad_request', 4],
    ['history with both room and with', '{"type":"history","room":"r","with":"bob"}', 'bad_request'],
    ['history with null with counts as absent', '{"type":"history","room":"r","with":null}', null],
    ['unknown fields ignored', '{"type":"ping","colour":"blue"}', null],
    ['who paged', '{"type":"who","after":"bob","limit":500}', null],
    ['who page too big', '{"type":"who","limit":501}', 'bad_request'],
    ['who bad after', '{"type":"who","after":"b b"}', 'bad_name'],
    ['pong', '{"type":"pong"}', null],
    ['typing in a room', '{"type":"typing","room":"r"}', null],
    ['typing to a user', '{"type":"typing","to":"bob"}', null],
    ['typing needs room or to', '{"type":"typing","id":1}', 'bad_request', 1],
    ['typing not both', '{"type":"typing","room":"r","to":"bob"}', 'bad_request'],
    ['typing bad room', '{"type":"typing","room":"a b"}', 'bad_room'],
    ['read a room', '{"type":"read","room":"r","seq":4}', null],
    ['read with a user', '{"type":"read","with":"bob","seq":1}', null],
    ['read without seq', '{"type":"read","room":"r"}', 'bad_request'],
    ['read seq 0', '{"type":"read","room":"r","seq":0}', 'bad_request'],
    ['read needs room or with', '{"type":"read","seq":3}', 'bad_request'],
    ['read not both', '{"type":"read","room":"r","with":"bob","seq":3}', 'bad_request'],
    ['reads', '{"type":"reads"}', null],
    ['edit ok', '{"type":"edit","room":"r","seq":3,"text":"x"}', null],
    ['edit a DM', '{"type":"edit","to":"bob","seq":3,"text":"x"}', null],
    ['edit without text', '{"type":"edit","room":"r","seq":3}', 'bad_text'],
    ['edit without seq', '{"type":"edit","room":"r","text":"x"}', 'bad_request'],
    ['edit needs room or to', '{"type":"edit","seq":3,"text":"x"}', 'bad_request'],
    ['delete ok', '{"type":"delete","room":"r","seq":1}', null],
    ['delete seq 0', '{"type":"delete","room":"r","seq":0}', 'bad_request'],
    ['delete both', '{"type":"delete","room":"r","to":"bob","seq":1}', 'bad_request'],
    ['react ok', '{"type":"react","room":"r","seq":1,"emoji":"👍🏽"}', null],
    ['react 16 units', `{"type":"react","room":"r","seq":1,"emoji":"${'x'.repeat(16)}"}`, null],
    ['react 17 units', `{"type":"react","room":"r","seq":1,"emoji":"${'x'.repeat(17)}"}`, 'bad_request'],
    ['react empty', '{"type":"react","room":"r","seq":1,"emoji":""}', 'bad_request'],
    ['react with a space', '{"type":"react","room":"r","seq":1,"emoji":"a b"}', 'bad_request'],
    ['react without emoji', '{"type":"react","room":"r","seq":1}', 'bad_request'],
    ['unreact ok', '{"type":"unreact","to":"bob","seq":1,"emoji":"👍"}', null],
    ['unreact needs room or to', '{"type":"unreact","seq":1,"emoji":"👍"}', 'bad_request'],
    ['typing bad to', '{"type":"typing","to":"a b"}', 'bad_name'],
    ['say lone high surrogate', '{"type":"say","room":"r","text":"a\\ud800b"}', 'bad_text'],
    ['say lone low surrogate', '{"type":"say","room":"r","text":"\\udc00"}', 'bad_text'],
    ['say surrogate pair ok', '{"type":"say","room":"r","text":"\\ud83d\\ude00"}', null],
    ['hello password and token', '{"type":"hello","name":"a","password":"p","token":"t"}', 'bad_request'],
    ['register without password', '{"type":"register"}', 'bad_request'],
    ['logout all not bool', '{"type":"logout","all":1}', 'bad_request'],
    ['search everywhere', '{"type":"search","query":"deploy friday"}', null],
    ['search a room', '{"type":"search","query":"x","room":"r","limit":100}', null],
    ['search a DM with a cursor', '{"type":"search","query":"x","with":"bob","before":8123}', null],
    ['search without query', '{"type":"search","room":"r","id":2}', 'bad_request', 2],
    ['search query not a string', '{"type":"search","query":5}', 'bad_request'],
    ['search empty query', '{"type":"search","query":""}', 'bad_request'],
    ['search query without words', '{"type":"search","query":"?! -- ..."}', 'bad_request'],
    ['search query of 200 chars', `{"type":"search","query":"${'a'.repeat(200)}"}`, null],
    ['search query of 201 chars', `{"type":"search","query":"${'a'.repeat(201)}"}`, 'bad_request'],
    ['search query of 10 words', `{"type":"search","query":"${'a b c d e f g h i j'}"}`, null],
    ['search query of 11 words', `{"type":"search","query":"${'a b c d e f g h i j k'}"}`, 'bad_request'],
    ['search repeated words count once', `{"type":"search","query":"${'a A a '.repeat(30)}"}`, null],
    ['search query lone surrogate', '{"type":"search","query":"a\\ud800"}', 'bad_request'],
    ['search room and with', '{"type":"search","query":"x","room":"r","with":"bob"}', 'bad_request'],
    ['search bad room', '{"type":"search","query":"x","room":"a b"}', 'bad_room'],
    ['search bad with', '{"type":"search","query":"x","with":"a b"}', 'bad_name'],
    ['search limit 0', '{"type":"search","query":"x","limit":0}', 'bad_request'],
    ['search limit 101', '{"type":"search","query":"x","limit":101}', 'bad_request'],
    ['search before 0', '{"type":"search","query":"x","before":0}', 'bad_request'],
    ['search before not a number', '{"type":"search","query":"x","before":"abc"}', 'bad_request'],
    ['search before a float', '{"type":"search","query":"x","before":1.5}', 'bad_request'],
  ];
  it.each(rows)('%s', (_label, json, code, re) => {
    const r = parseRequest(json);
    if (code === null) {
      expect(r.ok).toBe(true);
    } else {
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.code).toBe(code);
        expect(r.message.length).toBeGreaterThan(0);
        expect(r.re).toBe(re);
      }
    }
  });

  it('keeps the id as re on field errors', () => {
    const r = validateRequest({ type: 'say', room: 'r', text: '', id: 99 });
    expect(r).toMatchObject({ ok: false, code: 'bad_text', re: 99 });
  });
});

// The request a handler receives is built from checked fields only. With the raw object handed on,
// `{"type":"who","room":null}` reached nameKey(null) and a TypeError ended the whole server.
describe('validated requests hold only checked fields', () => {
  const nullRows: [string, string, Record<string, unknown>][] = [
    ['who room null', '{"type":"who","room":null,"id":1}', { type: 'who', id: 1 }],
    ['who after/limit null', '{"type":"who","after":null,"limit":null}', { type: 'who' }],
    ['join since/history null', '{"type":"join","room":"r","since":null,"history":null}', { type: 'join', room: 'r' }],
    ['history before/limit null', '{"type":"history","room":"r","before":null,"limit":null}', { type: 'history', room: 'r' }],
    ['hello protocol/client null', '{"type":"hello","name":"a","protocol":null,"client":null}', { type: 'hello', name: 'a' }],
    ['say action null', '{"type":"say","room":"r","text":"x","action":null}', { type: 'say', room: 'r', text: 'x' }],
    ['dm action null', '{"type":"dm","to":"b","text":"x","action":null}', { type: 'dm', to: 'b', text: 'x' }],
    ['say mid kept', '{"type":"say","room":"r","text":"x","mid":"m1"}', { type: 'say', room: 'r', text: 'x', mid: 'm1' }],
    ['id null', '{"type":"ping","id":null}', { type: 'ping' }],
    ['unknown fields dropped', '{"type":"ping","colour":"blue","__proto__":{"x":1}}', { type: 'ping' }],
  ];
  it.each(nullRows)('%s', (_label, json, expected) => {
    const r = parseRequest(json);
    expect(r.ok).toBe(true);
    if (r.ok) expect({ ...r.request }).toStrictEqual(expected);
  });

  it('does not read inherited properties as fields', () => {
    const proto = { room: 'sneaky' };
    const obj = Object.assign(Object.create(proto) as object, { type: 'who' });
    const r = validateRequest(obj);
    expect(r.ok && r.request).toStrictEqual({ type: 'who' });
  });
});
