// Checks request params; each failure names the field (E_BAD_REQUEST).
import { isAbsolute } from 'node:path';
import { ErrorCodes } from './protocol.js';
import { RpcError } from './rpc-error.js';

export type Params = Record<string, unknown>;

export const NAME_RE = /^[A-Za-z0-9_.:@-]{1,128}$/;
export const NETNS_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
export const KEY_RE = /^[A-Za-z0-9_.:@/-]{1,256}$/;

function bad(key: string, want: string): RpcError {
  return new RpcError(ErrorCodes.BAD_REQUEST, `params.${key} must be ${want}`);
}

export function optString(p: Params, key: string, re?: RegExp, want = 'a string'): string | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || (re && !re.test(v))) throw bad(key, want);
  return v;
}

export function reqString(p: Params, key: string, re?: RegExp, want = 'a string'): string {
  const v = optString(p, key, re, want);
  if (v === undefined) throw bad(key, want);
  return v;
}

export function optPath(p: Params, key: string): string | undefined {
  const v = optString(p, key, undefined, 'an absolute path');
  if (v !== undefined && (!isAbsolute(v) || v.includes('\0'))) throw bad(key, 'an absolute path');
  return v;
}

export function optInt(p: Params, key: string, min: number, max: number): number | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(key, `an integer from ${min} to ${max}`);
  return v;
}

export function optBool(p: Params, key: string): boolean | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw bad(key, 'true or false');
  return v;
}

export function optEnum<T extends string>(p: Params, key: string, values: readonly T[]): T | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (!values.includes(v as T)) throw bad(key, `one of ${values.join(', ')}`);
  return v as T;
}

export function reqStringArray(p: Params, key: string): string[] {
  const v = p[key];
  if (!Array.isArray(v) || !v.length || v.some((s) => typeof s !== 'string' || s.includes('\0'))) {
    throw bad(key, 'a non-empty array of strings');
  }
  return v as string[];
}

export function optObject(p: Params, key: string): Params | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(key, 'an object');
  return v as Params;
}

export function optStringRecord(p: Params, key: string): Record<string, string> | undefined {
  const o = optObject(p, key);
  if (!o) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || v.includes('\0')) {
      throw bad(`${key}.${k}`, 'a string (names: letters, digits, _)');
    }
    out[k] = v;
  }
  return out;
}
