// Type declarations for babysea (Node.js binding over the C ABI via koffi).
import { EventEmitter } from 'node:events';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Issue {
  field: string;
  code: string;
  message: string;
}

export class BabyseaError extends Error {
  /** The pinned error code (babysea.h). */
  code: number;
  /** Stable snake_case name, e.g. "insufficient_credits". */
  type: string;
  retryable: boolean;
  issues: Issue[];
}
export class InvalidRequest extends BabyseaError {}
export class NotFound extends BabyseaError {}
export class InsufficientCredits extends BabyseaError {}
export class IdempotencyConflict extends BabyseaError {}
export class IdempotencyInProgress extends BabyseaError {}
export class InvalidState extends BabyseaError {}
export class Unauthenticated extends BabyseaError {}
export class Forbidden extends BabyseaError {}
export class RateLimited extends BabyseaError {}
export class ModelNotFound extends BabyseaError {}
export class PayloadTooLarge extends BabyseaError {}
export class UnsupportedMediaType extends BabyseaError {}
export class UrlForbidden extends BabyseaError {}
export class InvalidSignature extends BabyseaError {}
export class ProvidersFailed extends BabyseaError {}
export class ProviderTimeout extends BabyseaError {}
export class Unavailable extends BabyseaError {}
export class StorageError extends BabyseaError {}
export class Corruption extends BabyseaError {}
export class Internal extends BabyseaError {}
export class InvalidAmount extends BabyseaError {}
export class Canceled extends BabyseaError {}
export class Timeout extends BabyseaError {}
export class Unsupported extends BabyseaError {}
/** Thrown by any call on a closed engine. */
export class EngineClosed extends Unavailable {}

export const errors: {
  BabyseaError: typeof BabyseaError;
  EngineClosed: typeof EngineClosed;
  [name: string]: typeof BabyseaError;
};

export interface LifecycleEvent {
  type: 'generation.started' | 'generation.completed' | 'generation.failed' | 'generation.canceled' | string;
  generation_id: string;
  account: string;
  status: 'pending' | 'processing' | 'succeeded' | 'failed' | 'canceled';
  data: { [key: string]: Json } | null;
}

/** A generation record (specs/api.md §3.2). */
export interface Generation {
  generation_id: string;
  generation_status: 'pending' | 'processing' | 'succeeded' | 'failed' | 'canceled';
  generation_output_file?: string[];
  generation_removed?: boolean;
  [key: string]: Json | undefined;
}

export interface SubmitResult {
  /** An idempotent replay (the REST API's Idempotency-Replayed). */
  replayed: boolean;
  /** The create response data (specs/api.md §2.4). */
  data: { generation_id: string; [key: string]: Json };
}

export interface GenerationPage {
  generations: Generation[];
  total: number;
  limit: number;
  offset: number;
}

export interface ApiKeyInfo {
  id: string;
  account: string;
  scopes: string[];
  region: string;
  name: string;
  prefix: string;
  created_ms: number;
  expires_ms: number;
  last_used_ms: number;
  revoked_ms: number;
}

export interface IssuedKey extends ApiKeyInfo {
  /** The full key text, shown only once. */
  key: string;
}

export interface BalanceInfo {
  account: string;
  available: string;
  posted: string;
  pending: string;
  available_micros: number;
  posted_micros: number;
  pending_micros: number;
}

export interface AuditReport {
  clean: boolean;
  violations: string[];
  accounts: number;
  entries: number;
  holds: number;
  pending_holds: number;
}

export interface WebhookEndpoint {
  id: string;
  account: string;
  url: string;
  signing: 'babysea' | 'standard_webhooks' | 'both';
  events: string[];
  enabled: boolean;
  disabled_reason: string;
  created_ms: number;
  updated_ms: number;
}

export interface SubmitOptions {
  idempotencyKey?: string | null;
  type?: 'image' | 'video';
  waitForAckMs?: number;
}

export interface EstimateParams {
  count?: number;
  duration?: number;
  resolution?: string;
  audio?: boolean;
}

export class Engine extends EventEmitter {
  /** Builds a deployment from one JSON configuration (off the JS thread). */
  static open(config: object | string): Promise<Engine>;
  readonly closed: boolean;
  /** Waits for calls in flight, then destroys the engine. Idempotent. */
  close(): Promise<void>;

  /** Lifecycle events, emitted on the JS thread while a listener is registered. */
  on(event: 'event', listener: (event: LifecycleEvent) => void): this;
  on(event: 'dropped', listener: (count: number) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  /** One callback for every lifecycle event (replaces the previous; null removes it). */
  setEventCallback(fn: ((event: LifecycleEvent) => void) | null): void;

  authenticate(apiKey: string): Promise<{ account: string; key_id: string; scopes: string[]; region: string }>;
  submit(apiKey: string, model: string, params: object | string, options?: SubmitOptions): Promise<SubmitResult>;
  get(apiKey: string, generationId: string): Promise<Generation>;
  list(apiKey: string, page?: { limit?: number; offset?: number }): Promise<GenerationPage>;
  cancel(apiKey: string, generationId: string): Promise<{
    generation_id: string; generation_status: 'canceled'; provider_cancel_sent: boolean; credits_refunded: boolean;
  }>;
  delete(apiKey: string, generationId: string): Promise<{ generation_id: string; files_deleted: number }>;
  estimate(apiKey: string, model: string, params?: EstimateParams | null): Promise<{ [key: string]: Json }>;
  usage(apiKey: string, days?: number): Promise<{ [key: string]: Json }>;
  /** Any API operation by name ("status", "library.models", ...): the whole
   *  document, {status, request_id, message, timestamp, data}, as the REST API answers it. */
  call(apiKey: string, operation: string, args?: {
    path_param?: string; query?: { [key: string]: string | number | boolean }; body?: object; idempotency_key?: string;
  } | null): Promise<{ [key: string]: Json }>;

  providerCallback(provider: string, headers: { [name: string]: string } | Array<[string, string]>,
    body: Buffer | Uint8Array | string): Promise<{ applied: boolean; generation_id: string }>;
  stripeEvent(signatureHeader: string, body: Buffer | Uint8Array | string): Promise<{
    event_id: string; type: string; effect: 'granted' | 'clawed_back' | 'no_effect' | 'duplicate';
    account: string; amount: string; shortfall: string; [key: string]: Json;
  }>;

  createAccount(account: string): Promise<{ account: string }>;
  issueApiKey(account: string, options?: { scopes?: string | string[]; name?: string; expiresMs?: number }):
    Promise<IssuedKey>;
  listApiKeys(account: string): Promise<ApiKeyInfo[]>;
  revokeApiKey(account: string, keyId: string): Promise<{ key_id: string; revoked: true }>;
  /** `amount` is a decimal credit string ("10", "0.5"), an integer or a bigint. */
  grantCredits(account: string, amount: string | number | bigint, key?: string | null): Promise<{
    entry_id: number; account: string; amount: string; amount_micros: number; key: string; replayed: boolean;
  }>;
  balance(account: string): Promise<BalanceInfo>;
  statement(account: string, limit?: number): Promise<{ account: string; entries: Array<{ [key: string]: Json }> }>;
  audit(): Promise<AuditReport>;

  createWebhookEndpoint(account: string, url: string, options?: {
    secret?: string; signing?: 'babysea' | 'standard_webhooks' | 'both'; events?: string[];
  }): Promise<WebhookEndpoint & { secret: string }>;
  listWebhookEndpoints(account: string): Promise<WebhookEndpoint[]>;
  setWebhookEndpointEnabled(account: string, endpointId: string, enabled: boolean):
    Promise<{ id: string; enabled: boolean }>;
  testWebhookEndpoint(account: string, endpointId: string): Promise<{ delivery_id: string }>;

  health(): Promise<{ healthy: boolean; providers: Json; models: Json }>;
  metricsText(): Promise<string>;
  runDue(): Promise<number>;
  drain(): Promise<void>;
}

export function version(): string;
export function versionNumber(): number;
export function errorName(code: number): string;
/** The libbabysea.so this module loaded ($BABYSEA_LIBRARY, the packaged copy, a build tree, or the system's). */
export const libraryPath: string;
