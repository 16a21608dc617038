// Sits between a page's WebSocket and the real server (Playwright's routeWebSocket): records what the
// page sends, can rewrite what the server sends, and can break the link the way a dead network path
// does: the page loses its connection while the server's side stays open and silently swallows
// whatever the server writes, until the test lets the server notice.
import type { Page, WebSocketRoute } from 'playwright-core';

type Json = Record<string, unknown>;

export interface WsTap {
  /** Every request the page sent, parsed, across all its connections. */
  readonly sent: Json[];
  /** Every event the server sent the page (before any rewrite), parsed, across all its connections. */
  readonly received: Json[];
  /** Applied to each server event before the page sees it. */
  rewrite: ((ev: Json) => Json) | undefined;
  /** Closes the page's side of every connection, keeps the server's sides open, refuses new ones. */
  cut(): Promise<void>;
  /** Closes the server sides that cut() left open: the server now sees the user go. */
  closeServerSides(): Promise<void>;
  /** Lets new connections through again. */
  heal(): void;
}

interface Link {
  page: WebSocketRoute;
  server: WebSocketRoute;
  cut: boolean;
}

/** Must run before the page loads: the route replaces the page's WebSocket from the start. */
export async function tapWebSocket(page: Page): Promise<WsTap> {
  const links: Link[] = [];
  let refusing = false;
  const tap: WsTap = {
    sent: [],
    received: [],
    rewrite: undefined,
    async cut() {
      refusing = true;
      for (const l of links) {
        l.cut = true;
        await l.page.close();
      }
    },
    async closeServerSides() {
      for (const l of links.splice(0)) await l.server.close();
    },
    heal() {
      refusing = false;
    },
  };
  await page.routeWebSocket(/\/ws$/, (ws) => {
    if (refusing) {
      void ws.close();
      return;
    }
    const server = ws.connectToServer();
    const link: Link = { page: ws, server, cut: false };
    links.push(link);
    ws.onMessage((m) => {
      if (typeof m === 'string') tap.sent.push(JSON.parse(m) as Json);
      if (!link.cut) server.send(m);
    });
    server.onMessage((m) => {
      if (typeof m === 'string') tap.received.push(JSON.parse(m) as Json);
      if (link.cut) return;
      ws.send(typeof m === 'string' && tap.rewrite ? JSON.stringify(tap.rewrite(JSON.parse(m) as Json)) : m);
    });
    // Closing is forwarded by hand, so that a cut link can keep its server side open.
    ws.onClose(() => {
      if (!link.cut) void server.close();
    });
    server.onClose(() => {
      if (!link.cut) void ws.close();
    });
  });
  return tap;
}
