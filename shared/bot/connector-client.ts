import type { TokenCredential } from '@azure/identity';
import { AppError } from '../errors.js';

/**
 * Sends activities to a Bot Framework connector (`{serviceUrl}/v3/conversations/...`). The bot's
 * own token comes from a {@link BotTokenProvider}: Entra client credentials or managed identity in
 * Azure, a static development token locally. No retries here: the calling activity is retried by
 * Durable (CONVENTIONS.md 8), so 429/5xx/network errors are thrown as retryable and 4xx answers
 * are returned, not thrown, because repeating them cannot help.
 */
export interface BotTokenProvider {
  /** A bearer token for the Bot Connector API. */
  getToken(): Promise<string>;
}

/** Bot Connector scope for Entra-issued bot tokens. */
export const BOT_CONNECTOR_SCOPE = 'https://api.botframework.com/.default';

/** Azure: a token for the bot's identity (managed identity or client credentials via the credential). */
export function credentialBotTokenProvider(credential: TokenCredential): BotTokenProvider {
  return {
    async getToken() {
      const token = await credential.getToken(BOT_CONNECTOR_SCOPE);
      if (!token) throw new AppError('bot_token_unavailable', 503, 'No token for the Bot Connector.', { retryable: true });
      return token.token;
    },
  };
}

/** Local development and tests: a fixed token for a development connector. */
export function staticBotTokenProvider(token: string): BotTokenProvider {
  return { getToken: async () => token };
}

export interface OutgoingActivity {
  type: 'message' | 'typing';
  text?: string;
  textFormat?: 'markdown' | 'plain';
  from: { id: string; name?: string | undefined };
  recipient: { id: string; name?: string | undefined };
  conversation: { id: string };
  replyToId: string;
}

export interface ConnectorClient {
  /** POST `{serviceUrl}/v3/conversations/{conversationId}/activities/{replyToId}`. */
  reply(serviceUrl: string, conversationId: string, activity: OutgoingActivity): Promise<{ delivered: boolean; status: number }>;
}

export function createConnectorClient(options: { tokens: BotTokenProvider; timeoutMs: number; requireHttps: boolean; fetch?: typeof globalThis.fetch }): ConnectorClient {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  return {
    async reply(serviceUrl, conversationId, activity) {
      const base = new URL(serviceUrl.endsWith('/') ? serviceUrl : `${serviceUrl}/`);
      if (options.requireHttps && base.protocol !== 'https:') {
        return { delivered: false, status: 0 };
      }
      const url = new URL(`v3/conversations/${encodeURIComponent(conversationId)}/activities/${encodeURIComponent(activity.replyToId)}`, base);
      const token = await options.tokens.getToken();
      const res = await fetchImpl(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(activity),
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      await res.body?.cancel();
      if (res.status === 429 || res.status >= 500) {
        throw new AppError('connector_unavailable', 503, `The Bot Connector answered ${res.status}.`, { retryable: true });
      }
      return { delivered: res.ok, status: res.status };
    },
  };
}
