// The locks of an image (GET/DELETE …/images/{image}/locks) and sparsify (POST …/images/{image}/sparsify).
import { z } from 'zod';

const service = z.boolean().describe("one of this service's own librados clients (never fenced by it)");

export const lockOwnerSchema = z.object({
  address: z.string().describe("the owner's client address (ip:port/nonce), as librbd names it"),
  mode: z.enum(['exclusive', 'shared']),
  client: z.string().nullable().describe('"client.<id>" of the watcher with the same address; null when none watches the image (a dead client)'),
  service,
}).meta({ id: 'LockOwner' });

export const lockerSchema = z.object({
  client: z.string().describe('"client.<id>"'),
  cookie: z.string(),
  address: z.string(),
  managed: z.boolean().describe("librbd's own entry of the exclusive lock (cookie \"auto …\"), broken together with it; false: an advisory lock (`rbd lock add`)"),
  service,
}).meta({ id: 'Locker' });

export const imageLocksSchema = z.object({
  owners: z.array(lockOwnerSchema).describe("the exclusive lock's owner(s): none while no client writes"),
  lockers: z.object({
    exclusive: z.boolean(),
    tag: z.string().describe('"internal" for librbd\'s exclusive lock'),
    entries: z.array(lockerSchema),
  }).describe('the lock entries on the image header (rbd_list_lockers)'),
  watchers: z.array(z.object({
    address: z.string(), id: z.number().int().describe('the client id (client.<id>)'), cookie: z.number(), service,
  })).describe('the clients that have the image open'),
}).meta({ id: 'ImageLocks' });

export const breakLocksQuery = z.object({
  confirm: z.string().max(4096).optional()
    .describe("the image's name: breaking the lock blocklists (fences) its owner's client, on every image it uses"),
}).strict();

export const breakLocksSchema = z.object({
  broken: z.array(z.object({
    kind: z.enum(['exclusive', 'advisory']),
    address: z.string(),
    client: z.string().nullable(),
    cookie: z.string().nullable(),
  })).describe('the locks broken; empty when the image had none'),
  fenced: z.array(z.string()).describe('the client addresses blocklisted (`ceph osd blocklist ls`), before any lock was broken'),
}).meta({ id: 'BrokenLocks' });

export const SPARSE_SIZE_MIN = 4096;
export const SPARSE_SIZE_DEFAULT = 4096;

export const sparsifyBody = z.object({
  sparseSize: z.number().int().min(SPARSE_SIZE_MIN).max(2 ** 25)
    .refine((n) => (n & (n - 1)) === 0, 'must be a power of two')
    .optional()
    .describe(`bytes: runs of zeros at least this long (aligned) are deallocated; a power of two from ${SPARSE_SIZE_MIN} to the `
      + `image's object size, default ${SPARSE_SIZE_DEFAULT}`),
}).strict().meta({ id: 'SparsifyRequest' });
