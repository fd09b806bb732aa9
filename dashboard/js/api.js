// The operator API over fetch. Same origin: locally the stack serves the dashboard and the
// API on one port; deployed, CloudFront routes /operator/* to the HTTP API. A
// <meta name="api-base"> tag can point elsewhere.

const TOKEN_KEY = "cc.session";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details ?? {};
  }
}

function apiBase() {
  const meta = document.querySelector('meta[name="api-base"]');
  return (meta?.content ?? "").replace(/\/$/, "");
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(TOKEN_KEY) ?? "null");
  } catch {
    return null;
  }
}

function saveSession(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, JSON.stringify(value));
  else sessionStorage.removeItem(TOKEN_KEY);
}

let onUnauthenticated = () => {};

/** Called when the API answers 401 (expired or missing token): the app shows the login. */
export function setUnauthenticatedHandler(handler) {
  onUnauthenticated = handler;
}

export async function login(username, password) {
  const tokens = await request("POST", "/operator/auth/login", { username, password }, { auth: false });
  const expiresAt = Date.now() + Number(tokens.expires_in ?? 3600) * 1000;
  saveSession({ id_token: tokens.id_token, refresh_token: tokens.refresh_token, expires_at: expiresAt });
  return tokens;
}

export function logout() {
  saveSession(null);
}

export function isLoggedIn() {
  const current = session();
  return Boolean(current?.id_token) && (current.expires_at > Date.now() || Boolean(current.refresh_token));
}

// ID tokens live an hour and a monitor stays open all day: renew shortly before expiry.
const REFRESH_BEFORE_MS = 120_000;
let refreshing = null;

async function ensureFreshToken() {
  const current = session();
  if (!current?.refresh_token || current.expires_at - Date.now() > REFRESH_BEFORE_MS) return;
  refreshing ??= (async () => {
    try {
      // A public route like login: it works even after the ID token has expired.
      const tokens = await request(
        "POST",
        "/operator/auth/refresh",
        { refresh_token: current.refresh_token },
        { auth: false },
      );
      saveSession({
        id_token: tokens.id_token,
        refresh_token: tokens.refresh_token ?? current.refresh_token,
        expires_at: Date.now() + Number(tokens.expires_in ?? 3600) * 1000,
      });
    } catch {
      // The call that follows goes out with the old token and its 401 shows the login.
    } finally {
      refreshing = null;
    }
  })();
  await refreshing;
}

/** One API call; resolves to the JSON body, rejects with ApiError (never a bare TypeError). */
export async function request(method, path, body, { auth = true, query, bearer } = {}) {
  if (auth) await ensureFreshToken();
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = auth ? session()?.id_token : bearer;
  if (token) headers.Authorization = `Bearer ${token}`;
  let url = apiBase() + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (exc) {
    throw new ApiError(0, "network", `network error: ${exc.message}`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: { code: "bad_response", message: text.slice(0, 300) } };
    }
  }
  if (!response.ok) {
    const error = data?.error ?? {};
    const message = error.message ?? data?.message ?? `HTTP ${response.status}`;
    const apiError = new ApiError(response.status, error.code ?? `http_${response.status}`, message, error);
    if (response.status === 401 && auth) {
      saveSession(null);
      onUnauthenticated(apiError);
    }
    throw apiError;
  }
  return data;
}

export const get = (path, query) => request("GET", path, undefined, { query });
export const post = (path, body) => request("POST", path, body ?? {});
export const patch = (path, body) => request("PATCH", path, body ?? {});
export const del = (path) => request("DELETE", path);

/** Every item of a paged list (follows next_token; stops after maxPages as a safety net). */
export async function listAll(path, query = {}, maxPages = 50) {
  const items = [];
  let nextToken = undefined;
  for (let page = 0; page < maxPages; page += 1) {
    const data = await get(path, { ...query, limit: 100, next_token: nextToken });
    items.push(...(data?.items ?? []));
    nextToken = data?.next_token;
    if (!nextToken) break;
  }
  return items;
}

/** Run async work over items with at most `limit` in flight. */
export async function mapLimit(items, limit, worker) {
  const results = new Array(items.length);
  let next = 0;
  async function run() {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await worker(items[index], index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return results;
}
