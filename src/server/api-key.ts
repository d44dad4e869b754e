// api-key.ts - `Authorization: Bearer KEY` on /v1/*, and where KEY comes from: --api-key
// (REDRAFTER_API_KEY) or the first line of --api-key-file, which keeps it out of `ps` and the
// environment.
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { MiddlewareHandler } from "hono";
import { ConfigError, type Config } from "../config.ts";
import { ApiError } from "./errors.ts";

/** The key the server requires, or null for none. Throws ConfigError when both sources are set
 *  or the file is unreadable or empty. */
export function apiKeyOf(config: Pick<Config, "apiKey" | "apiKeyFile">): string | null {
  const path = config.apiKeyFile;
  if (path === null) return config.apiKey;
  if (config.apiKey !== null) {
    throw new ConfigError("give the API key once: --api-key (REDRAFTER_API_KEY) or --api-key-file (REDRAFTER_API_KEY_FILE), not both");
  }
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read --api-key-file ${path}: ${(e as Error).message}`);
  }
  const key = text.split(/\r?\n/, 1)[0]!.trim();
  if (!key) throw new ConfigError(`--api-key-file ${path}: the first line is empty (it should hold the key)`);
  return key;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Requires the key, compared in constant time. */
export function requireApiKey(key: string): MiddlewareHandler {
  const want = digest(key);
  return async (c, next) => {
    const m = /^Bearer\s+(.+)$/i.exec(c.req.header("Authorization") ?? "");
    if (!m) throw new ApiError(401, "Missing API key: send it as 'Authorization: Bearer <key>'", "invalid_request_error", "invalid_api_key");
    if (!timingSafeEqual(digest(m[1]!.trim()), want)) {
      throw new ApiError(401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key");
    }
    await next();
  };
}
