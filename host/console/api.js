// The console's one way to the server: same-origin fetch with the session cookie, the CSRF
// header on every change, and the server's JSON errors as `ApiError`s.

/** A refused request: the server's `{"error": {"code", "field", "message"}}` and its status. */
export class ApiError extends Error {
  constructor(status, code, field, message) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

let session = null;
let onUnauthorized = () => {};

/** The signed-in session (`{role, csrf, expires_at_ms}`), or null. */
export function currentSession() {
  return session;
}

/** Called (once per lost session) when the server answers 401 to a signed-in request. */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

/** Sends a request; resolves to the parsed JSON body (null for 204), rejects with ApiError. */
export async function request(method, path, body, { signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && session) headers["X-Tailor-Csrf"] = session.csrf;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network", null, `The node did not answer (${error.message}).`);
  }
  const text = response.status === 204 ? "" : await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = data && typeof data === "object" ? data.error : null;
    const failure = new ApiError(
      response.status,
      error?.code ?? `http_${response.status}`,
      error?.field ?? null,
      error?.message ?? `The node answered ${response.status} ${response.statusText}.`,
    );
    if (response.status === 401 && session && path !== "/console/session") {
      session = null;
      onUnauthorized(failure);
    }
    throw failure;
  }
  return data;
}

export const get = (path, options) => request("GET", path, undefined, options);
export const post = (path, body, options) => request("POST", path, body, options);
export const put = (path, body, options) => request("PUT", path, body, options);

/** Signs in with a token; the server sets the HttpOnly session cookie. */
export async function signIn(token) {
  session = await request("POST", "/console/session", { token });
  return session;
}

/** The session of the cookie the browser holds, or null when there is none. */
export async function resume() {
  try {
    session = await request("GET", "/console/session");
  } catch (error) {
    if (error.status === 401) {
      session = null;
    } else {
      throw error;
    }
  }
  return session;
}

/** Ends the session on the server (the cookie is cleared) and here. */
export async function signOut() {
  try {
    await request("DELETE", "/console/session");
  } finally {
    session = null;
  }
}

/** A path segment, escaped. */
export const seg = (value) => encodeURIComponent(value);
