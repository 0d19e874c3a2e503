// The official Node.js SDK (@yandex-cloud/nodejs-sdk@3.2.0) against mdb-backupd with TLS on both
// listeners, with a CA and server certificate made here by the openssl CLI (no committed keys):
// - the SDK's own Session reads a backup over TLS with the test CA as its root certificates;
// - so does a plain grpc-js TLS channel (credentials.createSsl(CA)) with nice-grpc and the
//   SDK's generated definitions, as sdk.test.js builds its clients;
// - a channel trusting only the public roots, and a plaintext channel, are refused (UNAVAILABLE).
//
// How the Session takes root certificates: new Session({ iamToken, ssl: { rootCerts, privateKey,
// certChain } }) passes `ssl` to grpc.credentials.createSsl(rootCerts, privateKey, certChain)
// and combines it with call credentials that send `authorization: Bearer <iamToken>`
// (dist/session.js, newChannelCredentials); session.client(Client, 'host:port') then uses that
// endpoint instead of the service map, with no discovery call. So no environment variable
// (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH) is needed, and the token is sent by the SDK itself.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const { BUILD, req, grpc, createChannel, createClient, auth } = require('./lib');
const { Session } = req('@yandex-cloud/nodejs-sdk');
const redis = req('@yandex-cloud/nodejs-sdk/mdb-redis-v1');

let server, dir, grpcAddr, caPem;
const channels = [];
const getRd1 = () => redis.backupService.GetBackupRequest.fromPartial({ backupId: 'rd-1' });

// A P-256 CA, and a server certificate it signs for 127.0.0.1 and localhost.
function makeCertificates() {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
          '-subj', '/CN=mdb-backup node test CA',
          '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-new', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  fs.writeFileSync(path.join(dir, 'server.ext'), 'basicConstraints=critical,CA:FALSE\n' +
                   'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-days', '2', '-sha256',
          '-set_serial', '0x' + crypto.randomBytes(12).toString('hex'), '-extfile', 'server.ext', '-out', 'server.pem');
  fs.chmodSync(path.join(dir, 'server.key'), 0o600);
  return fs.readFileSync(path.join(dir, 'ca.pem'));
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdb-node-tls-'));
  caPem = makeCertificates();
  fs.writeFileSync(path.join(dir, 'config.yaml'), `
server:
  grpc_listen: 127.0.0.1:0
  rest_listen: 127.0.0.1:0
  catalog: catalog.db
  tls: {cert_file: server.pem, key_file: server.key}
tokens:
  - {token: reader-token-1, subject: node, read: [f1]}
clusters:
  - {id: rd1, folder_id: f1, engine: redis, hosts: ["127.0.0.1:1"]}
`);
  const record = { id: 'rd-1', engine: 'REDIS', folderId: 'f1', clusterId: 'rd1', type: 'AUTOMATED',
                   sourceShardNames: ['rd1'], startedAt: '2026-11-20T03:00:00Z', createdAt: '2026-11-20T03:00:09Z' };
  execFileSync(path.join(BUILD, 'src/cli/mdb-backup'),
               ['catalog', 'import', '--catalog', path.join(dir, 'catalog.db'), '-'], { input: JSON.stringify(record) });
  server = spawn(path.join(BUILD, 'src/server/mdb-backupd'), ['--config', path.join(dir, 'config.yaml')],
                 { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    readline.createInterface({ input: server.stdout }).once('line', resolve);
    server.once('exit', (code) => reject(new Error(`mdb-backupd exited at start (${code})`)));
  });
  // 127.0.0.1:PORT: verified against the certificate's IP SAN (grpc-js also passes the IP as the
  // TLS server name, for which Node prints a DEP0123 warning; harmless).
  grpcAddr = /grpc=(\S+)/.exec(line)[1];
});

after(() => {
  for (const ch of channels) ch.close();
  if (server) server.kill('SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
});

function assertRd1(b) {
  assert.equal(b.id, 'rd-1');
  assert.equal(b.folderId, 'f1');
  assert.equal(b.sourceClusterId, 'rd1');
  assert.deepEqual(b.sourceShardNames, ['rd1']);
  assert.equal(b.type, redis.backup.Backup_BackupType.AUTOMATED);
  assert.equal(b.createdAt.toISOString(), '2026-11-20T03:00:09.000Z');
}

test('the SDK Session reads a backup over TLS with the test CA as root certificates', async () => {
  const session = new Session({ iamToken: 'reader-token-1', ssl: { rootCerts: caPem } });
  assertRd1(await session.client(redis.backupService.BackupServiceClient, grpcAddr).get(getRd1()));
  // The token is the Session's: another one is refused on the same kind of channel.
  const stranger = new Session({ iamToken: 'not-a-declared-token', ssl: { rootCerts: caPem } });
  // The Session wraps errors that carry an x-request-id (ours do) in its ApiError, which keeps
  // the gRPC code only in the message.
  await assert.rejects(stranger.client(redis.backupService.BackupServiceClient, grpcAddr).get(getRd1()),
                       (e) => / UNAUTHENTICATED: the token is not valid/.test(e.message) &&
                              e.requestId !== undefined);
});

test('a grpc-js TLS channel trusting the test CA is served', async () => {
  const channel = createChannel(grpcAddr, grpc.credentials.createSsl(caPem));
  channels.push(channel);
  const client = createClient(redis.backupService.BackupServiceClient.service, channel, auth('reader-token-1'));
  assertRd1(await client.get(getRd1()));
});

test('a channel that does not trust the CA, and a plaintext one, are refused', async () => {
  for (const creds of [grpc.credentials.createSsl(), grpc.credentials.createInsecure()]) {
    const channel = createChannel(grpcAddr, creds);
    channels.push(channel);
    const client = createClient(redis.backupService.BackupServiceClient.service, channel, auth('reader-token-1'));
    await assert.rejects(client.get(getRd1(), { signal: AbortSignal.timeout(30000) }),
                         (e) => e.code === grpc.status.UNAVAILABLE);
  }
});
