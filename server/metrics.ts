// Counters and gauges rendered in the Prometheus text exposition format (version 0.0.4). Labels are
// fixed small sets (transport, error code), so series cannot grow without bound.
import type { TransportName } from './peer.js';

type Labelled = Map<string, number>;

export class Metrics {
  readonly connections: Record<TransportName, number> = { tcp: 0, ws: 0, irc: 0 };
  readonly connectionsTotal: Record<TransportName, number> = { tcp: 0, ws: 0, irc: 0 };
  readonly bytesIn: Record<TransportName, number> = { tcp: 0, ws: 0, irc: 0 };
  readonly bytesOut: Record<TransportName, number> = { tcp: 0, ws: 0, irc: 0 };
  messagesIn = 0;
  /** Chat messages delivered to recipients (one per recipient). */
  messagesOut = 0;
  private readonly errors: Labelled = new Map();
  /** Connections refused before a session: by cap (address, server) or because plaintext met TLS. */
  private readonly refusedBy: Labelled = new Map();
  /** WebSocket connections opened, by the HTTP version that carried the handshake. */
  readonly wsOver = { http1: 0, http2: 0 };
  tlsHandshakeFailures = 0;
  private readonly tlsReloads = { ok: 0, failed: 0 };
  /** The certificate in use (seconds since the epoch), when the server speaks TLS. */
  tlsNotAfter: (() => number) | undefined;
  /** Sampled at render time: the hub knows its rooms and users, metrics does not. */
  gauges: () => { rooms: number; users: number } = () => ({ rooms: 0, users: 0 });

  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  refused(reason: 'address' | 'server' | 'tls_required'): void {
    this.refusedBy.set(reason, (this.refusedBy.get(reason) ?? 0) + 1);
  }

  tlsReload(ok: boolean): void {
    if (ok) this.tlsReloads.ok++;
    else this.tlsReloads.failed++;
  }

  render(): string {
    const out: string[] = [];
    const family = (name: string, type: 'counter' | 'gauge', help: string, rows: [string, number][]): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of rows) out.push(`${name}${labels} ${value}`);
    };
    const byTransport = (r: Record<TransportName, number>): [string, number][] => [
      ['{transport="tcp"}', r.tcp],
      ['{transport="ws"}', r.ws],
      ['{transport="irc"}', r.irc],
    ];
    const g = this.gauges();
    family('parley_connections', 'gauge', 'Open client connections.', byTransport(this.connections));
    family('parley_connections_total', 'counter', 'Client connections accepted.', byTransport(this.connectionsTotal));
    family('parley_rooms', 'gauge', 'Rooms with at least one member.', [['', g.rooms]]);
    family('parley_users_online', 'gauge', 'Users who completed hello and are connected.', [['', g.users]]);
    family('parley_messages_in_total', 'counter', 'Chat messages accepted (say and dm).', [['', this.messagesIn]]);
    family('parley_messages_out_total', 'counter', 'Chat messages delivered, one per recipient.', [['', this.messagesOut]]);
    family('parley_bytes_in_total', 'counter', 'Bytes received from clients.', byTransport(this.bytesIn));
    family('parley_bytes_out_total', 'counter', 'Bytes written to clients.', byTransport(this.bytesOut));
    family(
      'parley_errors_total',
      'counter',
      'Errors sent to clients, by protocol error code.',
      [...this.errors].sort().map(([code, n]) => [`{code="${code}"}`, n]),
    );
    family(
      'parley_connections_refused_total',
      'counter',
      'Chat connections refused before a session: over a connection cap (address, server), or plaintext on a TLS port.',
      [...this.refusedBy].sort().map(([reason, n]) => [`{reason="${reason}"}`, n]),
    );
    family('parley_ws_connections_by_http_total', 'counter', 'WebSocket connections opened, by the HTTP version of the handshake (2: RFC 8441).', [
      ['{http="1.1"}', this.wsOver.http1],
      ['{http="2"}', this.wsOver.http2],
    ]);
    if (this.tlsNotAfter) {
      family('parley_tls_handshake_failures_total', 'counter', 'TLS handshakes that failed or timed out on the chat TCP port.', [['', this.tlsHandshakeFailures]]);
      family('parley_tls_reloads_total', 'counter', 'Certificate reloads (SIGHUP), by result; a failed one keeps the old pair.', [
        ['{result="ok"}', this.tlsReloads.ok],
        ['{result="failed"}', this.tlsReloads.failed],
      ]);
      family('parley_tls_certificate_not_after_seconds', 'gauge', 'When the certificate in use expires, in seconds since the epoch.', [['', this.tlsNotAfter()]]);
    }
    const mem = process.memoryUsage();
    family('parley_process_resident_memory_bytes', 'gauge', 'Resident set size.', [['', mem.rss]]);
    family('parley_process_heap_bytes', 'gauge', 'V8 heap: reserved (total) and live after the last GC (used).', [
      ['{kind="total"}', mem.heapTotal],
      ['{kind="used"}', mem.heapUsed],
    ]);
    return out.join('\n') + '\n';
  }
}
