// Test certificates, made at test time with the openssl CLI (nothing is
// committed): a CA, a server and a client it signs, and one certificate for
// each way a handshake must fail (expired, self-signed, another CA, another
// host). The files live in a temporary directory only while openssl runs;
// the PEM text is kept in memory, and children get it through the
// environment (PIPC_TEST_PKI, see pkiEnv/pkiFromEnv).
//
// Needs openssl 1.1.1 or later on the PATH (CI: apt-get install openssl).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pem {
  key: string;
  cert: string;
}

export interface TestPki {
  /** The root every "good" certificate chains to. */
  ca: Pem;
  /** CN=localhost, SAN localhost, 127.0.0.1, ::1; serverAuth; signed by `ca`. */
  server: Pem;
  /** CN=client-1, O=posix-ipc tests; clientAuth; signed by `ca`. */
  client: Pem;
  /** As `server`, valid from two days ago to yesterday. */
  expiredServer: Pem;
  /** As `client`, expired yesterday. */
  expiredClient: Pem;
  /** CN=localhost with the same SAN, signed by its own key. */
  selfSigned: Pem;
  /** Another root, which nobody trusts. */
  otherCa: Pem;
  /** CN=localhost signed by `otherCa`; `chain` is the leaf followed by `otherCa`. */
  otherServer: Pem & { chain: string };
  /** A client signed by `otherCa`. */
  otherClient: Pem;
  /** CN=other.example, SAN other.example only; signed by `ca`. */
  wrongHost: Pem;
}

const SERVER_SAN = 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1';

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A UTC time `days` from now as openssl ca's YYYYMMDDHHMMSSZ. */
function stamp(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
}

function generate(dir: string): TestPki {
  const read = (name: string): string => readFileSync(join(dir, name), 'utf8');
  const pem = (name: string): Pem => ({ key: read(`${name}.key`), cert: read(`${name}.crt`) });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const root = (name: string, cn: string): void =>
    openssl(dir, [
      'req',
      '-x509',
      ...ecKey,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  const request = (name: string, subj: string, san?: string): void =>
    openssl(dir, [
      'req',
      '-new',
      ...ecKey,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      subj,
      ...(san ? ['-addext', san] : []),
    ]);
  const ext = (name: string, usage: 'serverAuth' | 'clientAuth', san?: string): string => {
    const file = `${name}.ext`;
    writeFileSync(
      join(dir, file),
      `[v3]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${usage}\n${san ?? ''}\n`,
    );
    return file;
  };
  const sign = (name: string, ca: string, usage: 'serverAuth' | 'clientAuth', san?: string): void =>
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-sha256',
      '-extfile',
      ext(name, usage, san),
      '-extensions',
      'v3',
    ]);
  // openssl x509 (3.0) cannot start a certificate in the past: openssl ca can (-startdate/-enddate).
  const signExpired = (name: string, usage: 'serverAuth' | 'clientAuth', san?: string): void => {
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), '1000\n');
    writeFileSync(
      join(dir, 'ca.cnf'),
      [
        '[ca]',
        'default_ca=expired',
        '[expired]',
        `dir=${dir}`,
        'database=$dir/index.txt',
        'new_certs_dir=$dir',
        'serial=$dir/serial',
        'default_md=sha256',
        'policy=any',
        'unique_subject=no',
        '[any]',
        'commonName=supplied',
        'organizationName=optional',
        '',
      ].join('\n'),
    );
    openssl(dir, [
      'ca',
      '-batch',
      '-notext',
      '-config',
      'ca.cnf',
      '-cert',
      'ca.crt',
      '-keyfile',
      'ca.key',
      '-in',
      `${name}.csr`,
      '-out',
      `${name}.crt`,
      '-startdate',
      stamp(-2),
      '-enddate',
      stamp(-1),
      '-extfile',
      ext(name, usage, san),
      '-extensions',
      'v3',
    ]);
  };

  root('ca', 'posix-ipc test CA');
  root('other-ca', 'posix-ipc other CA');
  request('server', '/CN=localhost');
  sign('server', 'ca', 'serverAuth', SERVER_SAN);
  request('client', '/CN=client-1/O=posix-ipc tests');
  sign('client', 'ca', 'clientAuth');
  request('expired-server', '/CN=localhost');
  signExpired('expired-server', 'serverAuth', SERVER_SAN);
  request('expired-client', '/CN=client-1/O=posix-ipc tests');
  signExpired('expired-client', 'clientAuth');
  openssl(dir, [
    'req',
    '-x509',
    ...ecKey,
    '-keyout',
    'self.key',
    '-out',
    'self.crt',
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-addext',
    SERVER_SAN,
  ]);
  request('other-server', '/CN=localhost');
  sign('other-server', 'other-ca', 'serverAuth', SERVER_SAN);
  request('other-client', '/CN=client-1/O=posix-ipc tests');
  sign('other-client', 'other-ca', 'clientAuth');
  request('wrong-host', '/CN=other.example');
  sign('wrong-host', 'ca', 'serverAuth', 'subjectAltName=DNS:other.example');

  const otherServer = pem('other-server');
  const otherCa = pem('other-ca');
  return {
    ca: pem('ca'),
    server: pem('server'),
    client: pem('client'),
    expiredServer: pem('expired-server'),
    expiredClient: pem('expired-client'),
    selfSigned: pem('self'),
    otherCa,
    otherServer: { ...otherServer, chain: otherServer.cert + otherCa.cert },
    otherClient: pem('other-client'),
    wrongHost: pem('wrong-host'),
  };
}

let made: TestPki | undefined;

/** The test certificates of this process, made on first use (about 20 openssl runs, well under a second). */
export function testPki(): TestPki {
  if (made !== undefined) return made;
  const fromEnv = process.env.PIPC_TEST_PKI;
  if (fromEnv) return (made = JSON.parse(fromEnv) as TestPki);
  // Not the pipc- prefix of the leak gate: this directory never outlives the call.
  const dir = mkdtempSync(join(tmpdir(), 'posix-ipc-certs-'));
  try {
    made = generate(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return made;
}

/** The environment of a child that uses the same certificates (read with {@link testPki}). */
export function pkiEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PIPC_TEST_PKI: JSON.stringify(testPki()) };
}
