// A real OpenID Connect provider (node-oidc-provider) for the single sign-on tests.
//
//   node provider.js PORT
//
// Environment: OIDC_PORT (when no PORT argument), OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and
// OIDC_REDIRECT_URI (comma-separated for several; default: `ktl serve` on port 8000).
// The issuer is http://127.0.0.1:PORT.
// It prints "READY <issuer>" on stdout once it listens.
//
// Sign-in is a minimal page that asks for a login name (no password) from the accounts
// below; "Avbryt" answers the client with error=access_denied. Consent is pre-granted for
// the one (first-party) client, as an organisation's own identity provider does.

import crypto from 'node:crypto';

import Provider from 'oidc-provider';

const ACCOUNTS = {
  kari: {
    email: 'kari.nordmann@kommune.no', email_verified: true, name: 'Kari Nordmann',
    groups: ['ktl-organisers'],
  },
  per: {
    email: 'per.hansen@kommune.no', email_verified: true, name: 'Per Hansen', groups: [],
  },
  lise: {
    email: 'lise.berg@kommune.no', email_verified: true, name: 'Lise Berg',
    groups: ['ktl-organisers', 'alle-ansatte'], roles: ['ktl-admins'],
  },
  tor: {
    email: 'tor.lie@kommune.no', email_verified: true, name: 'Tor Lie', groups: ['ktl-organisers'],
  },
  ola: {
    email: 'ola@annen-arbeidsgiver.no', email_verified: true, name: 'Ola Utenfor', groups: [],
  },
  uverifisert: {
    email: 'ukjent@kommune.no', email_verified: false, name: 'Uverifisert Bruker', groups: [],
  },
  // Claims only from the userinfo endpoint, as a strictly conforming provider does.
  siri: {
    email: 'siri.dahl@kommune.no', email_verified: true, name: 'Siri Dahl',
    groups: ['ktl-organisers'], userinfoOnly: true,
  },
};

const port = Number(process.argv[2] || process.env.OIDC_PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node provider.js PORT (or set OIDC_PORT)');
  process.exit(2);
}
const clientId = process.env.OIDC_CLIENT_ID || 'ktl';
const clientSecret = process.env.OIDC_CLIENT_SECRET || 'ktl-hemmelig';
const redirectUris = (process.env.OIDC_REDIRECT_URI || 'http://127.0.0.1:8000/logg-inn/oidc/callback')
  .split(',').map((uri) => uri.trim()).filter(Boolean);
const issuer = `http://127.0.0.1:${port}`;

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

async function findAccount(ctx, sub) {
  const account = ACCOUNTS[sub];
  if (!account) return undefined;
  return {
    accountId: sub,
    async claims(use) {
      if (account.userinfoOnly && use === 'id_token') return { sub };
      const { userinfoOnly, ...claims } = account;
      return { sub, preferred_username: sub, ...claims };
    },
  };
}

// Consent is implied for the organisation's own client: create the grant on the fly.
async function loadExistingGrant(ctx) {
  const { Grant } = ctx.oidc.provider;
  const grantId = ctx.oidc.result?.consent?.grantId
    || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
  if (grantId) {
    const existing = await Grant.find(grantId);
    if (existing) return existing;
  }
  const grant = new Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
  grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
  await grant.save();
  return grant;
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey()] },
  cookies: {
    keys: [crypto.randomBytes(32).toString('hex')],
    long: { httpOnly: true, sameSite: 'lax', signed: true },
    short: { httpOnly: true, sameSite: 'lax', signed: true },
  },
  claims: {
    openid: ['sub', 'groups', 'roles'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  conformIdTokenClaims: false, // claims in the ID token, as Microsoft Entra ID sends them
  findAccount,
  loadExistingGrant,
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true, methods: ['S256'] },
  ttl: {
    AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600,
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, error = '') {
  return `<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>Logg inn</title></head>
<body><h1>Test-identitetsleverandør</h1>${error ? `<p class="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Brukernavn <input name="login" autofocus></label>
<button type="submit">Logg inn</button></form>
<form method="post" action="/interaction/${escape(uid)}/abort"><button type="submit">Avbryt</button></form>
</body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(login|abort))?$/.exec(ctx.path);
  if (!match) return next();
  const [, uid, action] = match;
  const { req, res } = ctx;
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
  if (ctx.method === 'GET' && !action) {
    ctx.type = 'html';
    ctx.body = loginPage(uid);
    return undefined;
  }
  if (ctx.method !== 'POST' || !action) ctx.throw(405);
  ctx.respond = false; // interactionFinished writes the redirect itself
  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'Brukeren avbrøt innloggingen.',
    }, { mergeWithLastSubmission: false });
  }
  const login = (await readForm(req)).get('login') || '';
  if (!ACCOUNTS[login]) {
    ctx.respond = true;
    ctx.status = 401;
    ctx.type = 'html';
    ctx.body = loginPage(uid, `Ukjent bruker: ${login}`);
    return undefined;
  }
  return provider.interactionFinished(req, res, { login: { accountId: login } }, {
    mergeWithLastSubmission: false,
  });
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer} (oidc-provider on Node.js ${process.version})`);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
