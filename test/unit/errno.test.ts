// The errno table and CephError: no librados error reaches a caller as a bare number.
import { describe, expect, it } from 'vitest';
import { CEPH_MEANINGS, errnoInfo, errnoName, errnoNumber } from '../../src/native/errno.js';
import { CephError, check, isCephError } from '../../src/ceph/errors.js';
import { ApiError, toProblem } from '../../src/http/errors.js';

describe('errno table', () => {
  it.each([
    [2, 'ENOENT'], [17, 'EEXIST'], [16, 'EBUSY'], [39, 'ENOTEMPTY'], [33, 'EDOM'], [34, 'ERANGE'], [22, 'EINVAL'],
    [110, 'ETIMEDOUT'], [108, 'ESHUTDOWN'], [85, 'ERESTART'], [1, 'EPERM'], [13, 'EACCES'], [107, 'ENOTCONN'], [28, 'ENOSPC'],
  ])('%i is %s, from a negative return code too', (n, name) => {
    expect(errnoName(n)).toBe(name);
    expect(errnoName(-n)).toBe(name);
    expect(errnoNumber(name)).toBe(n);
    expect(errnoInfo(-n).errno).toBe(n);
  });

  it('messages come from libc', () => {
    expect(errnoInfo(-17).message).toBe('File exists');
    expect(errnoInfo(-2).message).toBe('No such file or directory');
    expect(errnoInfo(-108).message).toBe('Cannot send after transport endpoint shutdown');
  });

  it('knows what Ceph means by some numbers', () => {
    expect(errnoInfo(-108).cephMeaning).toMatch(/blocklisted/);
    expect(errnoInfo(-33).cephMeaning).toMatch(/order/);
    expect(errnoInfo(-85).cephMeaning).toMatch(/EOLDSNAPC/);
    expect(errnoInfo(-2).cephMeaning).toBeUndefined();
    for (const name of Object.keys(CEPH_MEANINGS)) expect(errnoNumber(name), name).toBeGreaterThan(0);
  });

  it('an unknown number still gets a name and a message', () => {
    const info = errnoInfo(-4095);
    expect(info.name).toBe('E4095');
    expect(info.message).toBe('errno 4095');
  });
});

describe('CephError', () => {
  it('carries op, errno, name, meaning and a readable message', () => {
    const e = new CephError('newImage', 'rbd_create4', -17, 'rbd/vol1');
    expect(e).toBeInstanceOf(Error);
    expect(e.message).toBe('rbd_create4: File exists (EEXIST) [rbd/vol1]');
    expect(e).toMatchObject({ subject: 'newImage', op: 'rbd_create4', errno: 17, code: 'EEXIST', target: 'rbd/vol1', kind: 'ceph', name: 'CephError' });
    expect(new CephError('cluster', 'rados_connect', -108).cephMeaning).toMatch(/blocklisted/);
    expect(new CephError('newImage', 'rbd_create', -17).message).toBe('rbd_create: File exists (EEXIST)');
  });

  it('check() throws on negative codes and passes others through', () => {
    expect(check('cluster', 'rados_pool_list', 42)).toBe(42);
    expect(check('object', 'x', 0)).toBe(0);
    expect(check('object', 'x', 5n)).toBe(5n);
    expect(() => check('image', 'rbd_remove', -16, 'p/i')).toThrow('rbd_remove: Device or resource busy (EBUSY) [p/i]');
    expect(() => check('object', 'x', -1n)).toThrow(/EPERM/);
    try { check('image', 'rbd_open', -2); } catch (e) { expect(isCephError(e, 'ENOENT')).toBe(true); expect(isCephError(e, 'EEXIST')).toBe(false); }
  });

  it('closed and busy errors are told apart from Ceph errors', () => {
    expect(CephError.closed('rbd_stat')).toMatchObject({ kind: 'closed', code: 'ENOTCONN' });
    expect(CephError.busy('rbd_stat')).toMatchObject({ kind: 'busy', code: 'EAGAIN' });
  });
});

describe('problem documents', () => {
  it('extension members never replace a standard member or the code', () => {
    const p = toProblem(new ApiError('VALIDATION_FAILED', 'bad', { type: 'integer', title: 'x', status: 200, detail: 'y', code: 'OK', key: 'k' }), '/i', 'r');
    expect(p).toEqual({
      type: 'urn:rbd-rest-api:problem:validation-failed', title: 'The request is not valid', status: 400, detail: 'bad',
      code: 'VALIDATION_FAILED', key: 'k', instance: '/i', requestId: 'r',
    });
  });
});
