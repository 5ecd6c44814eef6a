// Token file parsing and matching (no cluster).
import { describe, expect, it } from 'vitest';
import { allowsPool, allowsScope, bearerToken, TokenFileError, TokenStore } from '../../src/http/auth.js';

const T1 = 'reader-token-0123456789abcdef';
const T2 = 'writer-token-0123456789abcdef';
const T3 = 'admin-token-0123456789abcdef0';

describe('token file', () => {
  it('parses the line format: token scopes [pools] [name], comments and blank lines', () => {
    const store = TokenStore.parse(`# tokens\n\n${T1} read\n${T2}  read,write  rbd,k8s  provisioner  # the CSI hook\n${T3} admin *\n`);
    expect(store.size).toBe(3);
    expect(store.authenticate(T1)).toMatchObject({ scope: 'read', pools: undefined, name: 'line-3' });
    const w = store.authenticate(T2)!;
    expect(w.scope).toBe('write');
    expect(w.name).toBe('provisioner');
    expect([...w.pools!]).toEqual(['rbd', 'k8s']);
    expect(store.authenticate(T3)).toMatchObject({ scope: 'admin', pools: undefined });
    expect(store.authenticate('nope-nope-nope-nope')).toBeUndefined();
    expect(store.authenticate(`${T1}x`)).toBeUndefined();
    expect(store.authenticate('')).toBeUndefined();
  });

  it('parses the JSON format', () => {
    const store = TokenStore.parse(JSON.stringify([
      { name: 'console', token: T1, scopes: ['read'] },
      { token: T2, scopes: ['write'], pools: ['rbd'] },
    ]));
    expect(store.authenticate(T1)).toMatchObject({ name: 'console', scope: 'read' });
    expect(store.authenticate(T2)).toMatchObject({ name: 'token-2', scope: 'write' });
  });

  it('rejects bad files with the line number and without echoing the token', () => {
    const cases = [
      '', '# only a comment\n', 'short read', `${T1} read,superuser`, `${T1}`, `${T1} read rbd name extra`,
      `${T1} read\n${T1} write`, '[{"token":"x","scopes":["read"]}]', '[not json', `[{"token":"${T1}","scopes":[]}]`,
      `[{"token":"${T1}","scopes":["read"],"admin":true}]`,
    ];
    for (const text of cases) {
      let error: unknown;
      try { TokenStore.parse(text, 'tokens.txt'); } catch (e) { error = e; }
      expect(error, text).toBeInstanceOf(TokenFileError);
      expect((error as Error).message).not.toContain(T1);
    }
    expect(() => TokenStore.parse(`${T1} read\n${T2} rw`, 'f')).toThrow(/f line 2: column 2 is not a scope/);
  });

  it('scopes nest admin ⊇ write ⊇ read; pools limit', () => {
    const store = TokenStore.parse(`${T1} read\n${T2} write rbd\n${T3} admin`);
    const r = store.authenticate(T1)!, w = store.authenticate(T2)!, a = store.authenticate(T3)!;
    expect([allowsScope(r, 'read'), allowsScope(r, 'write'), allowsScope(r, 'admin')]).toEqual([true, false, false]);
    expect([allowsScope(w, 'read'), allowsScope(w, 'write'), allowsScope(w, 'admin')]).toEqual([true, true, false]);
    expect([allowsScope(a, 'read'), allowsScope(a, 'write'), allowsScope(a, 'admin')]).toEqual([true, true, true]);
    expect(allowsPool(w, 'rbd')).toBe(true);
    expect(allowsPool(w, 'other')).toBe(false);
    expect(allowsPool(a, 'anything')).toBe(true);
  });

  it('replaceWith swaps the tokens (reload)', () => {
    const store = TokenStore.parse(`${T1} read`);
    store.replaceWith(TokenStore.parse(`${T2} write`));
    expect(store.authenticate(T1)).toBeUndefined();
    expect(store.authenticate(T2)?.scope).toBe('write');
  });

  it('reads only Bearer credentials', () => {
    expect(bearerToken(`Bearer ${T1}`)).toBe(T1);
    expect(bearerToken(`bearer   ${T1}`)).toBe(T1);
    expect(bearerToken(`Basic ${T1}`)).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
