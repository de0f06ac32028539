/**
 * The demo shop over HTTP (node:http, JSON in and out): every request goes to ShopService.handle with the time of
 * the shop's clock, and a slow provider's answer is held back for its latency. Canary users (`funnelwatch probe`)
 * and the sampled share of the simulated customers talk to this.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../core/clock.js';
import type { ShopService } from './shop-service.js';

export interface ShopServerOptions {
  service: ShopService;
  clock: Clock;
  /** 0 (default): any free port. */
  port?: number;
  host?: string;
}

export interface ShopServer {
  url: string;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      text += c;
      if (text.length > MAX_BODY) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

export async function startShopServer(o: ShopServerOptions): Promise<ShopServer> {
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    readBody(req).then(
      (text) => {
        let body: unknown;
        if (text !== '') {
          try {
            body = JSON.parse(text);
          } catch {
            return send(400, { error: 'invalid_json', message: 'the body is not JSON' });
          }
        }
        const headers: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v[0] : v;
        const answer = o.service.handle({
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          headers,
          body,
          at: o.clock.now(),
        });
        if (!answer.delayMs) return send(answer.status, answer.body);
        const t = setTimeout(() => {
          timers.delete(t);
          send(answer.status, answer.body);
        }, answer.delayMs);
        timers.add(t);
      },
      () => send(413, { error: 'too_large', message: `the body exceeds ${MAX_BODY} bytes` }),
    );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', resolve);
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.address}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
