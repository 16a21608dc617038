// Protocol messages the web client speaks that protocol/messages.ts does not carry yet: `search` and
// its `results` (issue 16; specified in docs/protocol.md by the search branch). Kept apart so that the
// shared unions, which the server's dispatch table must cover in full, change with the server.
// When protocol/messages.ts gains them, these become re-exports.
import type { ChatMessage, RequestId } from '../protocol/messages.js';

export interface SearchRequest {
  type: 'search';
  query: string;
  room?: string;
  with?: string;
  before?: number;
  limit?: number;
  id?: RequestId;
}

export interface ResultsEvent {
  type: 'results';
  messages: ChatMessage[];
  more?: boolean;
  re?: RequestId;
}
