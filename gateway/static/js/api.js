// The HTTP API under /api/v1: JSON in, JSON out, errors as ApiError.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Call the API. Throws ApiError with the server's code and message. */
export async function api(path, { method = "GET", body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let reply;
  try {
    reply = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "Can't reach the server. Check your connection.");
  }
  let data = null;
  try {
    data = await reply.json();
  } catch {
    /* an empty or non-JSON body */
  }
  if (!reply.ok) {
    const err = data?.error || {};
    throw new ApiError(reply.status, err.code || "http_error", err.message || reply.statusText);
  }
  return data;
}
