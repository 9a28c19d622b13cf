// Client of the Octohooks API: one method per operation of the OpenAPI document
// (`GET /api/v1/openapi.json`), named after its operationId. Uses the platform's `fetch`
// (Node 18+, browsers, Deno); no dependencies. Errors the API answers throw `ApiError`.

/** operationId → [method, path template]: every operation this client implements. */
export const OPERATIONS = {
  getHealth: ["GET", "/health"],
  getMetrics: ["GET", "/metrics"],
  getOpenApiDocument: ["GET", "/api/v1/openapi.json"],
  getSession: ["GET", "/api/v1/auth/session"],
  createSession: ["POST", "/api/v1/auth/session"],
  deleteSession: ["DELETE", "/api/v1/auth/session"],
  listTokens: ["GET", "/api/v1/tokens"],
  createToken: ["POST", "/api/v1/tokens"],
  revokeToken: ["DELETE", "/api/v1/tokens/{token_id}"],
  listApplications: ["GET", "/api/v1/applications"],
  createApplication: ["POST", "/api/v1/applications"],
  getApplication: ["GET", "/api/v1/applications/{application_id}"],
  updateApplication: ["PUT", "/api/v1/applications/{application_id}"],
  deleteApplication: ["DELETE", "/api/v1/applications/{application_id}"],
  createPortalLink: ["POST", "/api/v1/applications/{application_id}/portal-link"],
  listEndpoints: ["GET", "/api/v1/applications/{application_id}/endpoints"],
  createEndpoint: ["POST", "/api/v1/applications/{application_id}/endpoints"],
  getEndpoint: ["GET", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}"],
  updateEndpoint: ["PUT", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}"],
  deleteEndpoint: ["DELETE", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}"],
  listEndpointAttempts: ["GET", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/attempts"],
  getEndpointStats: ["GET", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/stats"],
  pauseEndpoint: ["POST", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/pause"],
  resumeEndpoint: ["POST", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/resume"],
  getEndpointSecret: ["GET", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/secret"],
  rotateEndpointSecret: ["POST", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/secret/rotate"],
  testEndpointFilter: ["POST", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/filter/test"],
  recoverEndpoint: ["POST", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/recover"],
  getRecoveryJob: ["GET", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/recover/{job_id}"],
  listMessages: ["GET", "/api/v1/applications/{application_id}/messages"],
  createMessage: ["POST", "/api/v1/applications/{application_id}/messages"],
  getMessage: ["GET", "/api/v1/applications/{application_id}/messages/{message_id}"],
  listAttempts: ["GET", "/api/v1/applications/{application_id}/messages/{message_id}/attempts"],
  resendMessage: ["POST", "/api/v1/applications/{application_id}/messages/{message_id}/endpoints/{endpoint_id}/resend"],
  sendExample: ["POST", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/send-example"],
  eraseMessageContent: ["DELETE", "/api/v1/applications/{application_id}/messages/{message_id}/content"],
  eraseMessages: ["POST", "/api/v1/applications/{application_id}/messages/erase"],
  getErasureJob: ["GET", "/api/v1/applications/{application_id}/messages/erase/{job_id}"],
  listEventTypes: ["GET", "/api/v1/event-types"],
  createEventType: ["POST", "/api/v1/event-types"],
  getEventType: ["GET", "/api/v1/event-types/{event_type_name}"],
  updateEventType: ["PUT", "/api/v1/event-types/{event_type_name}"],
  deleteEventType: ["DELETE", "/api/v1/event-types/{event_type_name}"],
  listOperationalEndpoints: ["GET", "/api/v1/operational-webhooks/endpoints"],
  createOperationalEndpoint: ["POST", "/api/v1/operational-webhooks/endpoints"],
  getOperationalEndpoint: ["GET", "/api/v1/operational-webhooks/endpoints/{endpoint_id}"],
  updateOperationalEndpoint: ["PUT", "/api/v1/operational-webhooks/endpoints/{endpoint_id}"],
  deleteOperationalEndpoint: ["DELETE", "/api/v1/operational-webhooks/endpoints/{endpoint_id}"],
} as const;

export type OperationId = keyof typeof OPERATIONS;

// ---- shapes (camelCase JSON, as the OpenAPI document names them) ----

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ApplicationIn { name: string; uid?: string }
export interface ApplicationOut { id: string; name: string; uid: string | null; created: number; updated: number }

export interface EndpointIn {
  name: string;
  url: string;
  uid?: string;
  channels?: string[];
  eventTypes?: string[];
  enabled?: boolean;
  secrets?: string[];
  rateLimit?: number | null;
  headers?: Record<string, string>;
  filter?: Json;
  ordering?: "none" | "fifo";
}
export interface EndpointHealthOut {
  circuit: "closed" | "open" | "half_open";
  consecutiveFailures: number;
  lastSuccess: number | null;
  lastFailure: number | null;
  failingSince: number | null;
  nextProbe: number | null;
  effectiveRateLimit: number | null;
}
export interface EndpointOut {
  id: string;
  name: string;
  url: string;
  uid: string | null;
  channels: string[];
  eventTypes: string[];
  enabled: boolean;
  secrets: string[];
  rateLimit: number | null;
  headers: Record<string, string>;
  filter: Json | null;
  ordering: "none" | "fifo";
  paused: boolean;
  health: EndpointHealthOut;
  created: number;
  updated: number;
}

export interface MessageIn { eventType: string; payload: { [key: string]: Json }; channels?: string[]; uid?: string; orderingKey?: string; validate?: boolean }
export interface MessageOut {
  id: string;
  eventType: string;
  /** `null` once erased. */
  payload: { [key: string]: Json } | null;
  channels: string[];
  uid: string | null;
  orderingKey?: string;
  created: number;
  updated: number;
}

export type AttemptStatus = "success" | "pending" | "failed";
export interface AttemptOut {
  messageId: string;
  endpointId: string;
  attempt: number;
  timestamp: number;
  status: AttemptStatus;
  responseStatusCode: number | null;
  error: string | null;
  durationMs: number;
  responseBody: string | null;
  nextAttempt: number | null;
}
export interface BucketOut { start: number; success: number; failure: number }
export interface EndpointStatsOut { hourly: BucketOut[]; daily: BucketOut[] }
export interface ResendAccepted { messageId: string; endpointId: string }
export interface RecoverIn { since: number; until?: number }
export interface RecoveryJobOut {
  id: string; endpointId: string; since: number; until: number | null;
  status: "running" | "done"; scanned: number; resent: number; created: number; updated: number;
}
export interface RotateIn { key?: string; gracePeriodSeconds?: number }
export interface SecretOut { key: string }
export interface FilterTestIn { filter: Json; payload: Json }
export interface FilterTestOut { matches: boolean }
export interface TokenIn { name: string; expiresAt?: number; scope?: { application: string; readOnly?: boolean } }
export interface TokenOut {
  id: string; name: string; scope: { application: string; readOnly: boolean } | null;
  expiresAt: number | null; created: number; lastUsed: number | null;
}
export interface TokenCreatedOut extends TokenOut { token: string | null }
export interface PortalLinkIn { expiresIn?: number; readOnly?: boolean; accentColor?: string; orgName?: string }
export interface PortalLinkOut { url: string | null; tokenId: string; expiresAt: number }
export interface SessionOut { org: string; csrfToken: string; expiresAt: number }
export interface Session { cookie: string; session: SessionOut }
export interface HealthOut { status: string; redis: string }
export interface EventTypeUpdateIn { description?: string; schema?: Json; example?: Json; archived?: boolean }
export interface EventTypeIn extends EventTypeUpdateIn { name: string }
export interface EventTypeOut {
  name: string; description: string; schema: Json | null; example: Json | null;
  archived: boolean; created: number; updated: number;
}
export interface EraseIn { uidPrefix?: string; channel?: string; before?: number }
export interface ErasureJobOut {
  id: string; uidPrefix: string | null; channel: string | null; before: number | null;
  status: "running" | "done"; scanned: number; erased: number; created: number; updated: number;
}

/** One page of a list; pass `iterator` to get the next (`null` on the last page). */
export interface Page<T> { data: T[]; iterator: string | null }
export interface ListOptions { limit?: number; iterator?: string }
export interface MessageListOptions extends ListOptions { eventType?: string; channel?: string; after?: number; before?: number }
export interface AttemptListOptions extends ListOptions { status?: AttemptStatus; since?: number; until?: number }
/** Options of every POST: an Idempotency-Key makes it safe to retry. */
export interface PostOptions { idempotencyKey?: string }

/** An error answer of the API: HTTP status, stable code, readable detail. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, readonly detail: string) {
    super(`${status} ${code}: ${detail}`);
    this.name = "ApiError";
  }
}

type Query = Record<string, string | number | undefined | null>;
interface Call {
  params?: string[];
  body?: unknown;
  query?: Query;
  post?: PostOptions;
  headers?: Record<string, string>;
  /** Authenticate with this dashboard session's cookie instead of the token. */
  session?: Session;
}

/** A client of one Octohooks server, acting with one token. */
export class Octohooks {
  private readonly base: string;

  constructor(base: string, private readonly token: string) {
    this.base = base.replace(/\/+$/, "");
  }

  private async send(operation: OperationId, call: Call = {}): Promise<Response> {
    const [method, template] = OPERATIONS[operation];
    const params = [...(call.params ?? [])];
    let path: string = template.replace(/\{[^}]+\}/g, () => encodeURIComponent(params.shift() ?? ""));
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined && value !== null) query.set(name, String(value));
    }
    const search = query.toString();
    if (search) path += `?${search}`;
    const headers: Record<string, string> = { Accept: "application/json" };
    if (call.session) {
      headers.Cookie = `octohooks_session=${call.session.cookie}`;
      headers["X-Octohooks-CSRF"] = call.session.session.csrfToken;
    } else {
      headers.Authorization = `Bearer ${this.token}`;
    }
    if (call.body !== undefined) headers["Content-Type"] = "application/json";
    if (call.post?.idempotencyKey) headers["Idempotency-Key"] = call.post.idempotencyKey;
    Object.assign(headers, call.headers);
    const response = await fetch(this.base + path, {
      method,
      headers,
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
    });
    if (!response.ok) {
      const text = await response.text();
      let error: { code?: string; detail?: string } = {};
      try {
        error = JSON.parse(text);
      } catch {
        error = { detail: text };
      }
      throw new ApiError(response.status, error.code ?? "http_error", error.detail ?? "");
    }
    return response;
  }

  private async json<T>(operation: OperationId, call?: Call): Promise<T> {
    const response = await this.send(operation, call);
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private async page<T>(operation: OperationId, params: string[], query: Query): Promise<Page<T>> {
    const response = await this.send(operation, { params, query });
    return { data: (await response.json()) as T[], iterator: response.headers.get("x-next-iterator") };
  }

  private async none(operation: OperationId, call?: Call): Promise<void> {
    await (await this.send(operation, call)).arrayBuffer();
  }

  // ---- operations ----

  getHealth(): Promise<HealthOut> { return this.json("getHealth"); }
  async getMetrics(): Promise<string> { return (await this.send("getMetrics")).text(); }
  getOpenApiDocument(): Promise<{ [key: string]: Json }> { return this.json("getOpenApiDocument"); }

  /** Signs in as the dashboard does (for tools that drive the dashboard's API). */
  async createSession(): Promise<Session> {
    const response = await this.send("createSession", { body: { token: this.token }, headers: { "X-Octohooks-CSRF": "1" } });
    const cookie = (response.headers.get("set-cookie") ?? "").match(/octohooks_session=([^;]*)/)?.[1] ?? "";
    return { cookie, session: (await response.json()) as SessionOut };
  }
  getSession(session: Session): Promise<SessionOut> { return this.json("getSession", { session }); }
  deleteSession(session: Session): Promise<void> { return this.none("deleteSession", { session }); }

  listTokens(options: ListOptions = {}): Promise<Page<TokenOut>> { return this.page("listTokens", [], { ...options }); }
  createToken(token: TokenIn, post?: PostOptions): Promise<TokenCreatedOut> { return this.json("createToken", { body: token, post }); }
  revokeToken(tokenId: string): Promise<TokenOut> { return this.json("revokeToken", { params: [tokenId] }); }

  listApplications(options: ListOptions = {}): Promise<Page<ApplicationOut>> { return this.page("listApplications", [], { ...options }); }
  createApplication(app: ApplicationIn, post?: PostOptions): Promise<ApplicationOut> { return this.json("createApplication", { body: app, post }); }
  getApplication(app: string): Promise<ApplicationOut> { return this.json("getApplication", { params: [app] }); }
  updateApplication(app: string, update: ApplicationIn): Promise<ApplicationOut> { return this.json("updateApplication", { params: [app], body: update }); }
  deleteApplication(app: string): Promise<void> { return this.none("deleteApplication", { params: [app] }); }
  createPortalLink(app: string, link: PortalLinkIn = {}, post?: PostOptions): Promise<PortalLinkOut> {
    return this.json("createPortalLink", { params: [app], body: link, post });
  }

  listEndpoints(app: string, options: ListOptions = {}): Promise<Page<EndpointOut>> { return this.page("listEndpoints", [app], { ...options }); }
  createEndpoint(app: string, endpoint: EndpointIn, post?: PostOptions): Promise<EndpointOut> {
    return this.json("createEndpoint", { params: [app], body: endpoint, post });
  }
  getEndpoint(app: string, endpoint: string): Promise<EndpointOut> { return this.json("getEndpoint", { params: [app, endpoint] }); }
  updateEndpoint(app: string, endpoint: string, update: EndpointIn): Promise<EndpointOut> {
    return this.json("updateEndpoint", { params: [app, endpoint], body: update });
  }
  deleteEndpoint(app: string, endpoint: string): Promise<void> { return this.none("deleteEndpoint", { params: [app, endpoint] }); }
  listEndpointAttempts(app: string, endpoint: string, options: AttemptListOptions = {}): Promise<Page<AttemptOut>> {
    return this.page("listEndpointAttempts", [app, endpoint], { ...options });
  }
  getEndpointStats(app: string, endpoint: string): Promise<EndpointStatsOut> { return this.json("getEndpointStats", { params: [app, endpoint] }); }
  pauseEndpoint(app: string, endpoint: string, post?: PostOptions): Promise<EndpointOut> { return this.json("pauseEndpoint", { params: [app, endpoint], post }); }
  resumeEndpoint(app: string, endpoint: string, post?: PostOptions): Promise<EndpointOut> { return this.json("resumeEndpoint", { params: [app, endpoint], post }); }
  getEndpointSecret(app: string, endpoint: string): Promise<SecretOut> { return this.json("getEndpointSecret", { params: [app, endpoint] }); }
  rotateEndpointSecret(app: string, endpoint: string, rotate: RotateIn = {}, post?: PostOptions): Promise<EndpointOut> {
    return this.json("rotateEndpointSecret", { params: [app, endpoint], body: rotate, post });
  }
  testEndpointFilter(app: string, endpoint: string, test: FilterTestIn, post?: PostOptions): Promise<FilterTestOut> {
    return this.json("testEndpointFilter", { params: [app, endpoint], body: test, post });
  }
  recoverEndpoint(app: string, endpoint: string, recover: RecoverIn, post?: PostOptions): Promise<RecoveryJobOut> {
    return this.json("recoverEndpoint", { params: [app, endpoint], body: recover, post });
  }
  getRecoveryJob(app: string, endpoint: string, job: string): Promise<RecoveryJobOut> {
    return this.json("getRecoveryJob", { params: [app, endpoint, job] });
  }

  listMessages(app: string, options: MessageListOptions = {}): Promise<Page<MessageOut>> { return this.page("listMessages", [app], { ...options }); }
  createMessage(app: string, message: MessageIn, post?: PostOptions): Promise<MessageOut> {
    return this.json("createMessage", { params: [app], body: message, post });
  }
  getMessage(app: string, message: string): Promise<MessageOut> { return this.json("getMessage", { params: [app, message] }); }
  listAttempts(app: string, message: string, options: ListOptions = {}): Promise<Page<AttemptOut>> {
    return this.page("listAttempts", [app, message], { ...options });
  }
  resendMessage(app: string, message: string, endpoint: string, post?: PostOptions): Promise<ResendAccepted> {
    return this.json("resendMessage", { params: [app, message, endpoint], post });
  }
  /** Sends the catalogue's example of `eventType` to this endpoint only. */
  sendExample(app: string, endpoint: string, eventType: string, post?: PostOptions): Promise<MessageOut> {
    return this.json("sendExample", { params: [app, endpoint], body: { eventType }, post });
  }
  eraseMessageContent(app: string, message: string): Promise<MessageOut> { return this.json("eraseMessageContent", { params: [app, message] }); }
  eraseMessages(app: string, erase: EraseIn = {}, post?: PostOptions): Promise<ErasureJobOut> {
    return this.json("eraseMessages", { params: [app], body: erase, post });
  }
  getErasureJob(app: string, job: string): Promise<ErasureJobOut> { return this.json("getErasureJob", { params: [app, job] }); }

  listEventTypes(options: ListOptions = {}): Promise<Page<EventTypeOut>> { return this.page("listEventTypes", [], { ...options }); }
  createEventType(eventType: EventTypeIn, post?: PostOptions): Promise<EventTypeOut> { return this.json("createEventType", { body: eventType, post }); }
  getEventType(name: string): Promise<EventTypeOut> { return this.json("getEventType", { params: [name] }); }
  updateEventType(name: string, update: EventTypeUpdateIn): Promise<EventTypeOut> { return this.json("updateEventType", { params: [name], body: update }); }
  deleteEventType(name: string): Promise<EventTypeOut> { return this.json("deleteEventType", { params: [name] }); }

  listOperationalEndpoints(options: ListOptions = {}): Promise<Page<EndpointOut>> { return this.page("listOperationalEndpoints", [], { ...options }); }
  createOperationalEndpoint(endpoint: EndpointIn, post?: PostOptions): Promise<EndpointOut> {
    return this.json("createOperationalEndpoint", { body: endpoint, post });
  }
  getOperationalEndpoint(endpoint: string): Promise<EndpointOut> { return this.json("getOperationalEndpoint", { params: [endpoint] }); }
  updateOperationalEndpoint(endpoint: string, update: EndpointIn): Promise<EndpointOut> {
    return this.json("updateOperationalEndpoint", { params: [endpoint], body: update });
  }
  deleteOperationalEndpoint(endpoint: string): Promise<EndpointOut> { return this.json("deleteOperationalEndpoint", { params: [endpoint] }); }
}
