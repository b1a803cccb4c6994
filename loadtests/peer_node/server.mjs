// The reference stack for WebSocket set-up: graphql-ws + ws + graphql-subscriptions,
// run by loadtests/bench_peer.py on the same core, with the same client and measure as our
// hub in loadtests/bench_ws.py, so that the two compare on the machine's speed of the day.
//
// What a socket costs here is what it costs in our hub minus our extras (the revocation
// look-up, presence and the NATS subscription): the upgrade, `connection_init` with an
// RS256 bearer token verified by jsonwebtoken (issuer, expiry), then
// `subscription { notifications { id updatedAt } }` on the user's in-memory PubSub topic.
//
//   node server.mjs --port=PORT --public-key=PEM_FILE --issuer=ISSUER
// GET /stats answers {"sockets": n, "subscriptions": n}: the driver checks every socket
// subscribed.

import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import { buildSchema } from 'graphql';
import { PubSub } from 'graphql-subscriptions';
import { useServer } from 'graphql-ws/use/ws';
import jwt from 'jsonwebtoken';
import { WebSocketServer } from 'ws';

const options = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const [name, ...value] = arg.replace(/^--/, '').split('=');
    return [name, value.join('=')];
  }),
);
const publicKey = createPublicKey(readFileSync(options['public-key']));
const issuer = options.issuer;

const schema = buildSchema(`
  type Notification { id: ID! updatedAt: String! }
  type Query { ok: Boolean }
  type Subscription { notifications: Notification! }
`);
const pubsub = new PubSub();
let subscriptions = 0;

const roots = {
  subscription: {
    notifications: (_args, context) => {
      subscriptions += 1;
      return pubsub.asyncIterableIterator(`user.${context.userId}`);
    },
  },
};

const http = createServer((request, response) => {
  if (request.url === '/stats') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ sockets: sockets.clients.size, subscriptions }));
    return;
  }
  response.writeHead(404).end();
});
const sockets = new WebSocketServer({ server: http, path: '/graphql' });

useServer(
  {
    schema,
    roots,
    onConnect: (ctx) => {
      const credentials = String(ctx.connectionParams?.authorization ?? '');
      const [scheme, token] = credentials.split(' ');
      if (scheme.toLowerCase() !== 'bearer' || !token) return false;
      try {
        const claims = jwt.verify(token, publicKey, { algorithms: ['RS256'], issuer });
        ctx.extra.userId = claims.sub;
        return true;
      } catch {
        return false;
      }
    },
    context: (ctx) => ({ userId: ctx.extra.userId }),
  },
  sockets,
);

http.listen(Number(options.port), '127.0.0.1');
