// Digital Bazaar's W3C VC implementation (@digitalbazaar/vc with DataIntegrityProof and the
// eddsa-rdfc-2022 cryptosuite), driven by the credentials tests: one JSON request on stdin,
// one JSON answer on stdout. The document loader serves only the contexts the request brings
// (the platform's bundled ones) and did:key verification methods; it never fetches.
//   {"op": "verify", "credential", "contexts", "statusLists"}            -> {"verified", "error"?}
//   {"op": "verifyPresentation", "presentation", "challenge", "domain", "contexts", "statusLists"}
//   {"op": "issue", "credential", "contexts"}  -> {"verifiableCredential"} (a fresh did:key issuer)
//   {"op": "present", "credential", "challenge", "domain", "contexts"} -> {"verifiablePresentation"}
import * as vc from '@digitalbazaar/vc';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import { DataIntegrityProof } from '@digitalbazaar/data-integrity';
import { cryptosuite as eddsaRdfc2022 } from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import { gunzipSync } from 'node:zlib';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const req = JSON.parse(Buffer.concat(chunks).toString('utf8'));

async function documentLoader(url) {
  if (Object.hasOwn(req.contexts, url)) {
    return { contextUrl: null, documentUrl: url, document: req.contexts[url] };
  }
  if (url.startsWith('did:key:')) {
    const [did, fragment] = url.split('#');
    const fingerprint = did.slice('did:key:'.length);
    const key = await Ed25519Multikey.from({ id: `${did}#${fingerprint}`, controller: did,
                                             publicKeyMultibase: fingerprint });
    const method = await key.export({ publicKey: true, includeContext: true });
    if (!fragment) {
      return { contextUrl: null, documentUrl: url, document: {
        '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
        id: did, verificationMethod: [method], assertionMethod: [method.id], authentication: [method.id] } };
    }
    return { contextUrl: null, documentUrl: url, document: method };
  }
  throw new Error(`refused to load ${url}: not bundled`);
}

// The Bitstring Status List check: the list credential the request brings, its bit.
async function checkStatus({ credential }) {
  const entries = [].concat(credential.credentialStatus);
  for (const entry of entries) {
    const list = (req.statusLists || {})[entry.statusListCredential];
    if (!list) return { verified: false, error: `no status list ${entry.statusListCredential}` };
    const listResult = await vc.verifyCredential({ credential: list, suite: verifySuite(), documentLoader });
    if (!listResult.verified) return { verified: false, error: 'status list credential does not verify' };
    const bits = gunzipSync(Buffer.from(list.credentialSubject.encodedList.slice(1), 'base64url'));
    const index = Number(entry.statusListIndex);
    if (bits[index >> 3] & (0x80 >> (index & 7))) return { verified: false, error: entry.statusPurpose };
  }
  return { verified: true };
}

const verifySuite = () => new DataIntegrityProof({ cryptosuite: eddsaRdfc2022 });

function failure(result) {
  const err = result.error || result.statusResult?.error;
  const errors = err?.errors ?? (err ? [err] : []);
  return errors.map((e) => String(e?.message ?? e)).join('; ') || String(result.statusResult?.error ?? '');
}

async function signer() {
  const key = await Ed25519Multikey.generate();
  const did = `did:key:${key.publicKeyMultibase}`;
  key.id = `${did}#${key.publicKeyMultibase}`;
  key.controller = did;
  return { key, did, suite: new DataIntegrityProof({ signer: key.signer(), cryptosuite: eddsaRdfc2022 }) };
}

let out;
if (req.op === 'verify') {
  const result = await vc.verifyCredential({ credential: req.credential, suite: verifySuite(), documentLoader,
                                              checkStatus });
  out = result.verified ? { verified: true } : { verified: false, error: failure(result) };
} else if (req.op === 'verifyPresentation') {
  const result = await vc.verify({ presentation: req.presentation, challenge: req.challenge, domain: req.domain,
                                   suite: verifySuite(), documentLoader, checkStatus });
  out = result.verified ? { verified: true } : { verified: false, error: failure(result) };
} else if (req.op === 'issue') {
  const { did, suite } = await signer();
  const credential = { ...req.credential, issuer: did };
  out = { verifiableCredential: await vc.issue({ credential, suite, documentLoader }) };
} else {
  const { did, suite } = await signer();
  const presentation = vc.createPresentation({ verifiableCredential: [req.credential], holder: did });
  out = { verifiablePresentation: await vc.signPresentation({ presentation, suite, challenge: req.challenge,
                                                              domain: req.domain, documentLoader }) };
}
process.stdout.write(JSON.stringify(out));
