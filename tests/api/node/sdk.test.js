// Every RPC of all four engines through the official Node.js SDK (@yandex-cloud/nodejs-sdk@3.2.0)
// against a real mdb-backupd. The SDK's Session is TLS-only, so clients are built the way the
// contract notes say: nice-grpc over an insecure grpc-js channel with the generated definitions.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const { BUILD, req, grpc, createChannel, createClient, auth } = require('./lib');
const gp = req('@yandex-cloud/nodejs-sdk/mdb-greenplum-v1');
const mongo = req('@yandex-cloud/nodejs-sdk/mdb-mongodb-v1');
const redis = req('@yandex-cloud/nodejs-sdk/mdb-redis-v1');
const osr = req('@yandex-cloud/nodejs-sdk/mdb-opensearch-v1');
const { OperationServiceClient, GetOperationRequest, CancelOperationRequest } =
  req('@yandex-cloud/nodejs-sdk/operation/operation_service');

let server, channel, dir;
const client = (svc, token = 'writer-token-1') => createClient(svc.service, channel, auth(token));

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdb-node-'));
  fs.writeFileSync(path.join(dir, 'config.yaml'), `
server: {grpc_listen: "127.0.0.1:0", rest_listen: "127.0.0.1:0", catalog: catalog.db}
tokens:
  - {token: writer-token-1, subject: node, read: [f1], write: [f1]}
clusters:
  - {id: gp1, folder_id: f1, engine: greenplum, hosts: ["127.0.0.1:1"]}
  - {id: mg1, folder_id: f1, engine: mongodb, shards: [{name: rs01, hosts: ["127.0.0.1:1"]}]}
  - {id: rd1, folder_id: f1, engine: redis, hosts: ["127.0.0.1:1"]}
  - {id: os1, folder_id: f1, engine: opensearch, hosts: ["127.0.0.1:1"]}
`);
  const records = [
    { id: 'gp-1', engine: 'GREENPLUM', clusterId: 'gp1', method: 'BASE', size: '4096', journalSize: '512' },
    { id: 'mg-1', engine: 'MONGODB', clusterId: 'mg1', sourceShardNames: ['rs01'], size: '77', journalSize: '5' },
    { id: 'rd-1', engine: 'REDIS', clusterId: 'rd1', sourceShardNames: ['rd1'] },
    { id: 'os-1', engine: 'OPENSEARCH', clusterId: 'os1', size: '10', addedSize: '3', logicalSize: '40',
      restoreSize: '41',
      engineFields: { '@type': 'type.googleapis.com/yandex.cloud.mdb.opensearch.v1.Backup',
                      indices: ['a', 'b'], indicesTotal: '2', opensearchVersion: '2.19.1' } },
  ].map((r) => JSON.stringify({ folderId: 'f1', type: 'MANUAL', startedAt: '2026-11-20T00:00:00Z',
                                createdAt: '2026-11-20T00:01:00.5Z', ...r })).join('\n');
  execFileSync(path.join(BUILD, 'src/cli/mdb-backup'),
               ['catalog', 'import', '--catalog', path.join(dir, 'catalog.db'), '-'], { input: records });
  server = spawn(path.join(BUILD, 'src/server/mdb-backupd'), ['--config', path.join(dir, 'config.yaml')],
                 { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    readline.createInterface({ input: server.stdout }).once('line', resolve);
    server.once('exit', (code) => reject(new Error(`mdb-backupd exited at start (${code})`)));
  });
  const addr = /grpc=(\S+)/.exec(line)[1];
  channel = createChannel(addr, grpc.credentials.createInsecure());
});

after(() => {
  if (channel) channel.close();
  if (server) server.kill('SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
});

// Polls until the operation is done; the deadline only guards against a hang.
async function waitDone(id, timeoutMs = 600000) {
  const ops = client(OperationServiceClient);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const op = await ops.get(GetOperationRequest.fromPartial({ operationId: id }));
    if (op.done) return op;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`operation ${id} did not finish within ${timeoutMs / 1000} s`);
}

test('greenplum: get, list, listBackups, backup, restore, delete', async () => {
  const b = await client(gp.backupService.BackupServiceClient)
    .get(gp.backupService.GetBackupRequest.fromPartial({ backupId: 'gp-1' }));
  assert.equal(b.id, 'gp-1');
  assert.equal(b.size, 4096);
  assert.equal(b.journalSize, 512);
  assert.equal(b.method, gp.backup.Backup_BackupMethod.BASE);
  assert.equal(b.type, gp.backup.Backup_BackupCreationType.MANUAL);
  assert.equal(b.createdAt.toISOString(), '2026-11-20T00:01:00.500Z');
  const list = await client(gp.backupService.BackupServiceClient)
    .list(gp.backupService.ListBackupsRequest.fromPartial({ folderId: 'f1' }));
  assert.deepEqual(list.backups.map((x) => x.id), ['gp-1']);
  const cl = client(gp.clusterService.ClusterServiceClient);
  const byCluster = await cl.listBackups(gp.clusterService.ListClusterBackupsRequest.fromPartial({ clusterId: 'gp1' }));
  assert.deepEqual(byCluster.backups.map((x) => x.id), ['gp-1']);
  // gp1's servers are unreachable here: the backup operation starts and fails, saying where.
  const bop = await cl.backup(gp.clusterService.BackupClusterRequest.fromPartial({ clusterId: 'gp1' }));
  const bmeta = gp.clusterService.BackupClusterMetadata.decode(bop.metadata.value);
  assert.equal(bmeta.clusterId, 'gp1');
  assert.ok(bmeta.backupId.length > 0);
  const failed = await waitDone(bop.id);
  assert.equal(failed.error.code, grpc.status.UNAVAILABLE);
  await assert.rejects(cl.restore(gp.clusterService.RestoreClusterRequest.fromPartial({ backupId: 'gp-1' })),
                       (e) => e.code === grpc.status.INVALID_ARGUMENT && /folder_id/.test(e.details));
  const op = await client(gp.backupService.BackupServiceClient)
    .delete(gp.backupService.DeleteBackupRequest.fromPartial({ backupId: 'gp-1' }));
  const meta = gp.backupService.DeleteBackupMetadata.decode(op.metadata.value);
  assert.deepEqual({ ...meta }, { backupId: 'gp-1', clusterId: 'gp1' });
  const done = await waitDone(op.id);
  assert.equal(done.response.typeUrl, 'type.googleapis.com/google.protobuf.Empty');
  await assert.rejects(client(OperationServiceClient).cancel(CancelOperationRequest.fromPartial({ operationId: op.id })),
                       (e) => e.code === grpc.status.FAILED_PRECONDITION);
});

test('mongodb and redis: get, list, listBackups, backup, delete', async () => {
  for (const [eng, id, cluster] of [[mongo, 'mg-1', 'mg1'], [redis, 'rd-1', 'rd1']]) {
    const bs = client(eng.backupService.BackupServiceClient);
    const b = await bs.get(eng.backupService.GetBackupRequest.fromPartial({ backupId: id }));
    assert.equal(b.sourceClusterId, cluster);
    assert.ok(b.sourceShardNames.length === 1);
    const list = await bs.list(eng.backupService.ListBackupsRequest.fromPartial({ folderId: 'f1', pageSize: 1 }));
    assert.deepEqual(list.backups.map((x) => x.id), [id]);
    const cl = client(eng.clusterService.ClusterServiceClient);
    const lb = await cl.listBackups(eng.clusterService.ListClusterBackupsRequest.fromPartial({ clusterId: cluster }));
    assert.deepEqual(lb.backups.map((x) => x.id), [id]);
    // The backup runs; this cluster's servers are unreachable, and the operation says so.
    const bop = await cl.backup(eng.clusterService.BackupClusterRequest.fromPartial({ clusterId: cluster }));
    assert.equal(eng.clusterService.BackupClusterMetadata.decode(bop.metadata.value).clusterId, cluster);
    const failed = await waitDone(bop.id);
    assert.equal(failed.error.code, grpc.status.UNAVAILABLE);
    assert.match(failed.error.message, eng === mongo ? /no reachable MongoDB server/ : /no reachable master or replica/);
    await assert.rejects(cl.restore(eng.clusterService.RestoreClusterRequest.fromPartial({ backupId: id, name: 'n' })),
                         (e) => e.code === grpc.status.INVALID_ARGUMENT);
    const op = await bs.delete(eng.backupService.DeleteBackupRequest.fromPartial({ backupId: id }));
    assert.equal(eng.backupService.DeleteBackupMetadata.decode(op.metadata.value).backupId, id);
    assert.ok((await waitDone(op.id)).response);
  }
  const b = await client(mongo.backupService.BackupServiceClient).list(
    mongo.backupService.ListBackupsRequest.fromPartial({ folderId: 'f1' }));
  assert.equal(b.backups.length, 0);
});

test('opensearch: get, list, listBackups, backup, restore, deleteBackup', async () => {
  const bs = client(osr.backupService.BackupServiceClient);
  const b = await bs.get(osr.backupService.GetBackupRequest.fromPartial({ backupId: 'os-1' }));
  assert.deepEqual(b.indices, ['a', 'b']);
  assert.equal(b.indicesTotal, 2);
  assert.equal(b.opensearchVersion, '2.19.1');
  assert.deepEqual([b.sizeBytes, b.incrementalSizeBytes, b.totalSizeBytes, b.freeSpaceRequiredBytes], [10, 3, 40, 41]);
  assert.equal((await bs.list(osr.backupService.ListBackupsRequest.fromPartial({ folderId: 'f1' }))).backups.length, 1);
  const cl = client(osr.clusterService.ClusterServiceClient);
  assert.equal((await cl.listBackups(osr.clusterService.ListClusterBackupsRequest.fromPartial({ clusterId: 'os1' }))).backups[0].id, 'os-1');
  const bop = await cl.backup(osr.clusterService.BackupClusterRequest.fromPartial({ clusterId: 'os1' }));
  const failed = await waitDone(bop.id);
  assert.equal(failed.error.code, grpc.status.UNAVAILABLE);
  assert.match(failed.error.message, /no OpenSearch node answers/);
  await assert.rejects(cl.restore(osr.clusterService.RestoreClusterRequest.fromPartial({ backupId: 'os-1' })),
                       (e) => e.code === grpc.status.INVALID_ARGUMENT);
  await assert.rejects(cl.deleteBackup(osr.clusterService.DeleteBackupRequest.fromPartial({ clusterId: 'gp1', backupId: 'os-1' })),
                       (e) => e.code === grpc.status.NOT_FOUND);
  const op = await cl.deleteBackup(osr.clusterService.DeleteBackupRequest.fromPartial({ clusterId: 'os1', backupId: 'os-1' }));
  const meta = osr.clusterService.DeleteBackupMetadata.decode(op.metadata.value);
  assert.deepEqual({ ...meta }, { clusterId: 'os1', backupId: 'os-1' });
  assert.ok((await waitDone(op.id)).response);
  await assert.rejects(bs.get(osr.backupService.GetBackupRequest.fromPartial({ backupId: 'os-1' })),
                       (e) => e.code === grpc.status.NOT_FOUND);
});

test('no token or a wrong token is UNAUTHENTICATED', async () => {
  const noAuth = createClient(redis.backupService.BackupServiceClient.service, channel);
  await assert.rejects(noAuth.list(redis.backupService.ListBackupsRequest.fromPartial({ folderId: 'f1' })),
                       (e) => e.code === grpc.status.UNAUTHENTICATED);
  await assert.rejects(client(redis.backupService.BackupServiceClient, 'wrong-token-99')
    .list(redis.backupService.ListBackupsRequest.fromPartial({ folderId: 'f1' })),
                       (e) => e.code === grpc.status.UNAUTHENTICATED);
});

test('every engine: ClusterService get, list and listOperations', async () => {
  for (const [eng, cluster] of [[gp, 'gp1'], [mongo, 'mg1'], [redis, 'rd1'], [osr, 'os1']]) {
    const cl = client(eng.clusterService.ClusterServiceClient);
    const c = await cl.get(eng.clusterService.GetClusterRequest.fromPartial({ clusterId: cluster }));
    assert.equal(c.id, cluster);
    assert.equal(c.folderId, 'f1');
    const page = await cl.list(eng.clusterService.ListClustersRequest.fromPartial({ folderId: 'f1' }));
    assert.deepEqual(page.clusters.map((x) => x.id), [cluster]);
    const op = await cl.backup(eng.clusterService.BackupClusterRequest.fromPartial({ clusterId: cluster }));
    await waitDone(op.id);
    const ops = await cl.listOperations(eng.clusterService.ListClusterOperationsRequest.fromPartial({ clusterId: cluster, pageSize: 1 }));
    assert.equal(ops.operations[0].id, op.id);
    assert.ok(ops.operations[0].done);
    await assert.rejects(cl.get(eng.clusterService.GetClusterRequest.fromPartial({ clusterId: 'missing' })),
                         (e) => e.code === grpc.status.NOT_FOUND);
  }
});
