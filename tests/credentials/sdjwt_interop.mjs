// The OpenWallet Foundation's SD-JWT VC implementation (@sd-jwt/sd-jwt-vc), driven by the
// credentials tests: reads one JSON request on stdin, writes one JSON answer on stdout.
//   {"op": "verify", "presentation", "issuer_jwk", "audience", "nonce", "status_lists": {uri: statuslist+jwt}}
//       -> {"ok": true, "payload", "kb"} or {"ok": false, "error"}
//   {"op": "issue", "iss", "vct", "claims", "disclose", "audience", "nonce"}
//       -> {"credential", "presentation", "issuer_jwk", "kid"} (fresh ES256 issuer and holder keys)
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import { ES256, digest, generateSalt } from '@sd-jwt/crypto-nodejs';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const req = JSON.parse(Buffer.concat(chunks).toString('utf8'));

async function verify() {
  const verifier = await ES256.getVerifier(req.issuer_jwk);
  const kbVerifier = async (data, sig, payload) => {
    const jwk = payload?.cnf?.jwk;
    if (!jwk) return false;
    return (await ES256.getVerifier(jwk))(data, sig);
  };
  // A credential's Token Status List comes from the request (what the test fetched from our endpoint).
  const statusListFetcher = async (uri) => {
    const token = req.status_lists?.[uri];
    if (!token) throw new Error(`no status list ${uri}`);
    return token;
  };
  const sdjwt = new SDJwtVcInstance({ verifier, kbVerifier, statusListFetcher, hasher: digest, hashAlg: 'sha-256' });
  try {
    const res = await sdjwt.verify(req.presentation, { keyBindingNonce: req.nonce });
    const claims = await sdjwt.getClaims(req.presentation);
    if (res.kb?.payload?.aud !== req.audience) throw new Error(`audience ${res.kb?.payload?.aud}`);
    return { ok: true, payload: claims, header: res.header, kb: res.kb?.payload };
  } catch (err) {
    return { ok: false, error: String(err?.message ?? err) };
  }
}

async function issue() {
  const issuer = await ES256.generateKeyPair();
  const holder = await ES256.generateKeyPair();
  const kid = 'interop-1';
  const sdjwt = new SDJwtVcInstance({
    signer: await ES256.getSigner(issuer.privateKey), signAlg: 'ES256',
    kbSigner: await ES256.getSigner(holder.privateKey), kbSignAlg: 'ES256',
    hasher: digest, hashAlg: 'sha-256', saltGenerator: generateSalt,
  });
  const { kty, crv, x, y } = holder.publicKey;
  const now = Math.floor(Date.now() / 1000);
  const credential = await sdjwt.issue(
    { iss: req.iss, iat: now, exp: now + 3600, vct: req.vct, cnf: { jwk: { kty, crv, x, y } }, ...req.claims },
    { _sd: Object.keys(req.claims) },
    { header: { kid } },
  );
  const frame = Object.fromEntries(req.disclose.map((name) => [name, true]));
  const presentation = await sdjwt.present(credential, frame, {
    kb: { payload: { iat: now, aud: req.audience, nonce: req.nonce } },
  });
  return { credential, presentation, issuer_jwk: issuer.publicKey, kid };
}

const out = req.op === 'verify' ? await verify() : await issue();
process.stdout.write(JSON.stringify(out));
