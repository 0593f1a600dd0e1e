// @ts-check
// The local runtime's storage thread: dynalite (DynamoDB API) and s3rver (S3 API) on loopback,
// persisted under each runtime's data folder. They run here rather than on the runtime's event
// loop so the emulators' CPU (LevelDB, XML, HTTP serving) uses a second core while the runtime
// parses and relays mail. One thread serves every runtime of a process (tests start many), so
// the emulators' modules load once. Plain JavaScript: a worker thread starts without the
// TypeScript loader.
//
// Messages (infra/local/storage.ts): in `start` {id, options} and `stop` {id}; out `ready`
// {id, dynamoPort, s3Port}, `error` {id, message, code} and `stopped` {id}.
import { parentPort } from 'node:worker_threads';
import dynalite from 'dynalite';
import S3rver from 's3rver';

const port = parentPort;
if (!port) throw new Error('storage-worker.mjs runs as a worker thread of the local runtime');

/**
 * @typedef {{ dynamoDir: string, s3Dir: string, host: string, dynamoPort: number, s3Port: number, bucket: string }} StorageOptions
 * @typedef {{ dynamo?: import('node:http').Server, s3?: S3rver }} Instance
 */

// A stray rejection inside an emulator (an operation still pending when its database closes)
// must not end the thread and every other runtime's storage with it.
process.on('unhandledRejection', (reason) => {
  console.error('lifeboat storage thread:', reason instanceof Error ? reason.message : reason);
});

/** @type {Map<number, Instance>} */
const instances = new Map();

/**
 * @param {import('node:net').Server} server
 * @param {number} listenPort
 * @param {string} host
 * @returns {Promise<number>}
 */
function listen(server, listenPort, host) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, host, () => {
      server.removeListener('error', reject);
      resolve(/** @type {import('node:net').AddressInfo} */ (server.address()).port);
    });
  });
}

/**
 * @param {Instance} instance
 * @param {StorageOptions} options
 */
async function start(instance, options) {
  // s3rver first: it holds nothing open until it listens, so a taken port leaves nothing behind.
  const s3 = new S3rver({
    address: options.host,
    port: options.s3Port,
    directory: options.s3Dir,
    silent: true,
    configureBuckets: [{ name: options.bucket, configs: [] }],
  });
  instance.s3 = s3;
  // What s3rver's run() does, but with the listen error caught: thrown here it would end the
  // thread, and with it every other runtime's storage.
  await s3.configureBuckets();
  const s3Port = await new Promise((resolve, reject) => {
    const server = s3.listen(options.s3Port, options.host, () => {
      server.removeListener('error', reject);
      resolve(server.address().port);
    });
    server.once('error', reject);
    s3.httpServer = server;
  });
  // dynalite opens LevelDB at once, and only its server's close() closes it: if the port is
  // taken, listen anywhere so that close() can run and free the folder for the next start.
  const dynamo = dynalite({ path: options.dynamoDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  instance.dynamo = dynamo;
  try {
    const dynamoPort = await listen(dynamo, options.dynamoPort, options.host);
    return { dynamoPort, s3Port };
  } catch (err) {
    await listen(dynamo, 0, options.host).catch(() => {});
    throw err;
  }
}

/** @param {Instance} instance */
async function stop(instance) {
  // s3rver first, then dynalite, whose close also closes LevelDB so the folder can be opened again.
  await instance.s3?.close().catch(() => {});
  const server = instance.dynamo;
  if (server?.listening) await new Promise((resolve) => server.close(() => resolve(undefined)));
}

port.on('message', (/** @type {{ type: string, id: number, options?: StorageOptions }} */ message) => {
  const { id } = message;
  if (message.type === 'start' && message.options) {
    /** @type {Instance} */
    const instance = {};
    instances.set(id, instance);
    start(instance, message.options).then(
      (ports) => port.postMessage({ type: 'ready', id, ...ports }),
      async (/** @type {NodeJS.ErrnoException} */ err) => {
        instances.delete(id);
        await stop(instance).catch(() => {});
        port.postMessage({ type: 'error', id, message: err?.message ?? String(err), code: err?.code });
      },
    );
  } else if (message.type === 'stop') {
    const instance = instances.get(id);
    instances.delete(id);
    (instance ? stop(instance) : Promise.resolve())
      .catch(() => {})
      .finally(() => port.postMessage({ type: 'stopped', id }));
  }
});
