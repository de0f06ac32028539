import { createServer } from 'node:net';

/** Asks the kernel for a free loopback TCP port. Racy in theory (another process may take it before we bind), so
 *  callers that spawn a server retry on "address in use". */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
