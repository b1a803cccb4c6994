// A real OpenID provider for the tests: panva/oidc-provider 8.x (Node 18+) with one confidential client,
// PKCE required, and test accounts whose claims come from the environment.
//
// Configuration (environment; the port may also be the first argument):
//   OIDC_PORT             port to listen on; 0 (the default) picks a free one
//   OIDC_HOST             address to bind and name in the issuer (default 127.0.0.1)
//   OIDC_CLIENT_ID        the client's id (default "fowergram-test")
//   OIDC_CLIENT_SECRET    its secret (required)
//   OIDC_REDIRECT_URIS    space-separated redirect URIs (required)
//   OIDC_ACCOUNTS         JSON object: account id (= sub) -> claims, e.g.
//                         {"alice": {"email": "a@example.com", "email_verified": true, "name": "Alice"}}
//   OIDC_ID_TOKEN_CLAIMS  "true" puts the requested claims in the ID token too; by default
//                         (like many providers) email and profile come from userinfo only.
//   OIDC_EXIT_WITH_STDIN  "true": exit when standard input closes, so a test runner that dies
//                         (even by SIGKILL) leaves no provider behind.
//
// The login and consent pages are oidc-provider's devInteractions: the login form takes the
// account id in its "login" field (any password). Once listening, one line goes to stdout:
//   oidc-provider listening on <issuer>
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { once } from 'node:events';

import Provider from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
}

const host = process.env.OIDC_HOST || '127.0.0.1';
const port = Number(process.argv[2] ?? process.env.OIDC_PORT ?? 0);
const clientId = process.env.OIDC_CLIENT_ID || 'fowergram-test';
const clientSecret = required('OIDC_CLIENT_SECRET');
const redirectUris = required('OIDC_REDIRECT_URIS').split(/\s+/).filter(Boolean);
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}');
const idTokenClaims = process.env.OIDC_ID_TOKEN_CLAIMS === 'true';

// A fresh signing key per run: nothing secret is kept on disk.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  alg: 'RS256',
  use: 'sig',
};

const server = createServer();
server.listen(port, host);
await once(server, 'listening');
const issuer = `http://${host}:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  pkce: { methods: ['S256'], required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  conformIdTokenClaims: !idTokenClaims,
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, sub) {
    if (!Object.hasOwn(accounts, sub)) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { ...accounts[sub], sub };
      },
    };
  },
});

server.on('request', provider.callback());
console.log(`oidc-provider listening on ${issuer}`);

// Nothing to flush: all state is in memory and meant to go with the process.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
if (process.env.OIDC_EXIT_WITH_STDIN === 'true') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
