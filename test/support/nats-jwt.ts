// NATS in operator mode for the tests: an operator, an account and users as
// real NKeys (@nats-io/nkeys, through the client), their JWTs signed here
// (ed25519 over "header.claims", as the nsc tool signs them), and a server
// configuration that trusts the operator and preloads the account. What
// `nsc` would make, without needing it installed.
import { createHash } from 'node:crypto';

import { nkeys } from '@nats-io/transport-node';

type KeyPair = ReturnType<typeof nkeys.createUser>;

const b64u = (s: string | Uint8Array): string => Buffer.from(s).toString('base64url');

function base32(b: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const x of b) {
    value = ((value << 8) | x) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** A JWT (v2 claims) for `subject`, signed by `issuer`. */
function sign(issuer: KeyPair, subject: string, nats: Record<string, unknown>): string {
  const header = b64u(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const claims: Record<string, unknown> = {
    jti: '',
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name: 'posix-ipc-test',
    sub: subject,
    nats: { ...nats, version: 2 },
  };
  claims.jti = base32(createHash('sha512-256').update(JSON.stringify(claims)).digest());
  const body = b64u(JSON.stringify(claims));
  return `${header}.${body}.${b64u(issuer.sign(new TextEncoder().encode(`${header}.${body}`)))}`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1 };

export interface OperatorSetup {
  /** The server configuration lines (give the operator JWT file as `$DIR/operator.jwt`). */
  config: string;
  /** The files the configuration names. */
  files: Record<string, string>;
  /** The text of a `.creds` file for a new user of the trusted account. */
  creds(): string;
  /** A `.creds` file for a user signed by an account the server does not know. */
  foreignCreds(): string;
}

function credsOf(account: KeyPair): string {
  const user = nkeys.createUser();
  const jwt = sign(account, user.getPublicKey(), { type: 'user', pub: {}, sub: {}, ...UNLIMITED });
  const seed = new TextDecoder().decode(user.getSeed());
  return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
}

export function operatorSetup(): OperatorSetup {
  const operator = nkeys.createOperator();
  const account = nkeys.createAccount();
  const limits = { ...UNLIMITED, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const accountJwt = sign(operator, account.getPublicKey(), { type: 'account', limits, default_permissions: { pub: {}, sub: {} } });
  return {
    config: `operator: "$DIR/operator.jwt"\nresolver: MEMORY\nresolver_preload: { ${account.getPublicKey()}: ${accountJwt} }`,
    files: { 'operator.jwt': sign(operator, operator.getPublicKey(), { type: 'operator' }) },
    creds: () => credsOf(account),
    foreignCreds: () => credsOf(nkeys.createAccount()),
  };
}
