// The engine API's method table. Each method is a small unit in its own file
// (methods/*.ts) that registers itself here, so other parts of the engine
// (e.g. the data path's ping methods) can add theirs without touching the server.
import type { EngineRuntime } from '../program/runtime.js';

export const API_VERSION = 1;

export class ApiError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export interface ApiConnection {
  /** Pushes an unsolicited message (an event) to this client. */
  push(msg: Record<string, unknown>): void;
  /** Runs fn when the connection closes. */
  onClose(fn: () => void): void;
  nextSubscriptionId(): number;
}

export interface ApiContext {
  rt: EngineRuntime;
  conn: ApiConnection;
}

export type Params = Record<string, unknown>;

export interface ApiMethod {
  summary: string; // one line for `features` docs and `cli help`
  handler(params: Params, ctx: ApiContext): unknown | Promise<unknown>;
}

const METHODS = new Map<string, ApiMethod>();

export function registerMethod(name: string, method: ApiMethod): void {
  if (METHODS.has(name)) throw new Error(`engine API method ${name} is registered twice`);
  METHODS.set(name, method);
}

export function getMethod(name: string): ApiMethod | undefined {
  return METHODS.get(name);
}

export function methodNames(): string[] {
  return [...METHODS.keys()].sort();
}

// ---- parameter helpers (unknown fields are ignored; known ones are checked) ----

export function optBool(p: Params, key: string): boolean {
  const v = p[key];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new ApiError('E_BAD_REQUEST', `params.${key} must be true or false`);
  return v;
}

export function optInt(p: Params, key: string): number | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ApiError('E_BAD_REQUEST', `params.${key} must be a non-negative integer`);
  return v;
}

export function optString(p: Params, key: string): string | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !v) throw new ApiError('E_BAD_REQUEST', `params.${key} must be a non-empty string`);
  return v;
}
