import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { listenOnLoopback } from './free-port';

const run = promisify(execFile);

/** A throwaway CA and a server certificate it signed for 127.0.0.1 (IP SAN), in a temp dir of their own. */
export interface TestCertificates {
  dir: string;
  /** The CA certificate (PEM file): what NODE_EXTRA_CA_CERTS names for the apps to trust the server. */
  caFile: string;
  /** The server's key and certificate (PEM). */
  key: Buffer;
  cert: Buffer;
  /** Deletes the temp dir. */
  remove: () => Promise<void>;
}

/**
 * Generates the certificates with the `openssl` CLI (P-256 keys, valid one day). Nothing outside the
 * temp dir is read or written; the services' own configuration is never involved.
 */
export async function createTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'messaging-e2e-tls-'));
  const path = (name: string) => join(dir, name);
  const openssl = async (...args: string[]) => {
    try {
      await run('openssl', args, { cwd: dir });
    } catch (error) {
      const { code, stderr } = error as { code?: string; stderr?: string };
      throw new Error(code === 'ENOENT' ? 'the openssl CLI is not installed' : `openssl ${args[0]} failed: ${stderr ?? String(error)}`);
    }
  };
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await openssl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      path('ca.key'),
      '-out',
      path('ca.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=messaging e2e test CA',
    );
    await openssl('req', ...ec, '-keyout', path('server.key'), '-out', path('server.csr'), '-subj', '/CN=127.0.0.1');
    await writeFile(
      path('server.ext'),
      'subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature\nextendedKeyUsage = serverAuth\n',
    );
    await openssl(
      'x509',
      '-req',
      '-in',
      path('server.csr'),
      '-CA',
      path('ca.pem'),
      '-CAkey',
      path('ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      path('server.ext'),
      '-out',
      path('server.pem'),
    );
    return {
      dir,
      caFile: path('ca.pem'),
      key: await readFile(path('server.key')),
      cert: await readFile(path('server.pem')),
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

const ignore = () => undefined;

/**
 * A TLS-terminating TCP proxy on 127.0.0.1: clients speak TLS to it (amqps://, rediss://), it speaks
 * plain TCP to the service. Lets a suite test TLS URLs against the shared services unchanged.
 */
export class TlsProxy {
  /** Client connections whose TLS handshake completed. */
  secureConnections = 0;
  /** Client handshakes that failed (e.g. the client did not trust the certificate). */
  handshakeFailures = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(options: { targetPort: number; targetHost?: string; key: Buffer; cert: Buffer }): Promise<TlsProxy> {
    const { targetPort, targetHost = '127.0.0.1', key, cert } = options;
    const server = createServer({ key, cert, minVersion: 'TLSv1.2' });
    // No connection can be handled before the await resumes (microtasks run before the next I/O event).
    const proxy = new TlsProxy(server, await listenOnLoopback(server));
    server.on('tlsClientError', () => proxy.handshakeFailures++);
    server.on('secureConnection', (client: TLSSocket) => {
      client.on('error', ignore);
      proxy.secureConnections++;
      const upstream = connect({ port: targetPort, host: targetHost });
      upstream.on('error', ignore);
      for (const socket of [client, upstream]) {
        proxy.sockets.add(socket);
        socket.on('close', () => {
          proxy.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    return proxy;
  }

  /** Drops every connection and closes the listener. */
  stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
