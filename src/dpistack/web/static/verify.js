// The verifier page, checked on the device (progressive enhancement of /verify: without this
// file the form posts and the platform checks the code). The page keeps this country's signed
// trust list and the platform's keys in localStorage, checked when they arrive, and verifies a
// card's QR code here with WebCrypto: DPI1: + base45 (RFC 9285) of zlib (RFC 1950) of an SD-JWT
// VC (ES256, typ dc+sd-jwt) with the card's disclosures and no key binding. Nothing leaves the
// device. The rules are those of credentials/trust.py and sdjwt.py for a card.
const form = document.getElementById("verify-form");
const out = document.getElementById("verify-result");
const status = document.getElementById("verify-offline");
const T = JSON.parse(document.getElementById("verify-i18n").textContent);
const STORE = "dpi-verify-trust";
const STATUS_STORE = "dpi-verify-status-lists"; // {uri: statuslist+jwt} of this platform's Token Status Lists
const MAX_CHARS = 16384; // the largest presentation the platform accepts (sdjwt.MAX_PRESENTATION_CHARS)
const B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

class Refusal extends Error {
  constructor(code, detail) { super(detail); this.code = code; }
}

function b45decode(text) {
  const v = [...text].map((c) => {
    const i = B45.indexOf(c);
    if (i < 0) throw new Refusal("malformed_qr", `${JSON.stringify(c)} is not a base45 character.`);
    return i;
  });
  if (v.length % 3 === 1) throw new Refusal("malformed_qr", "base45 text cannot have a length of 3n+1.");
  const bytes = [];
  for (let i = 0; i < v.length; i += 3) {
    if (i + 2 < v.length) {
      const n = v[i] + v[i + 1] * 45 + v[i + 2] * 2025;
      if (n > 0xffff) throw new Refusal("malformed_qr", "A base45 triplet encodes more than 16 bits.");
      bytes.push(n >> 8, n & 0xff);
    } else {
      const n = v[i] + v[i + 1] * 45;
      if (n > 0xff) throw new Refusal("malformed_qr", "A final base45 pair encodes more than 8 bits.");
      bytes.push(n);
    }
  }
  return new Uint8Array(bytes);
}

async function inflate(bytes) {
  // Stops reading past the largest presentation accepted (a zip bomb is refused, not inflated).
  const reader = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate")).getReader();
  const parts = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > MAX_CHARS) {
        reader.cancel();
        throw new Refusal("oversized_qr", `The QR code inflates past ${MAX_CHARS} characters.`);
      }
      parts.push(value);
    }
  } catch (e) {
    if (e instanceof Refusal) throw e;
    throw new Refusal("malformed_qr", "The QR code's compressed data does not decode.");
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  return new TextDecoder("ascii").decode(all);
}

function b64url(text, what) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Refusal("malformed", `The ${what} is not base64url.`);
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function b64urlEncode(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function jsonOf(bytes, what) {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new Refusal("malformed", `The ${what} is not JSON.`);
  }
}

function parseJws(token, what) {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Refusal("malformed", `The ${what} is not a compact JWS.`);
  return { header: jsonOf(b64url(parts[0], what), what), payload: jsonOf(b64url(parts[1], what), what),
           input: new TextEncoder().encode(`${parts[0]}.${parts[1]}`), signature: b64url(parts[2], what) };
}

async function verifyEs256(jwk, jws) {
  if (jwk.kty !== "EC" || jwk.crv !== "P-256") return false;
  const key = await crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  return jws.signature.length === 64 && crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, jws.signature, jws.input);
}

function keyOf(jwks, kid) {
  return (jwks.keys || []).find((k) => k.kid === kid && k.kty === "EC");
}

async function checkTrustList(saved, now) {
  const jws = parseJws(saved.list, "trust list");
  if (jws.header.typ !== "trust-list+jwt" || jws.header.alg !== "ES256") throw new Refusal("bad_trust_list", "Not a trust list.");
  if (jws.payload.iss !== form.dataset.issuer) throw new Refusal("bad_trust_list", `The trust list is by ${jws.payload.iss}.`);
  const key = keyOf(saved.jwks, jws.header.kid);
  if (!key || !(await verifyEs256(key, jws))) throw new Refusal("bad_trust_list", "The trust list's signature does not verify with the platform's key.");
  if (typeof jws.payload.exp !== "number" || jws.payload.exp < now) throw new Refusal("bad_trust_list", `The trust list expired at ${jws.payload.exp}: reload this page while online.`);
  return jws.payload;
}

function entryFor(list, iss, vct, now) {
  if (typeof iss !== "string") throw new Refusal("untrusted_issuer", "The credential names no issuer (iss).");
  const gone = (list.distrusted || []).find((d) => d.iss === iss);
  if (gone) throw new Refusal("untrusted_issuer", `Issuer ${iss} was distrusted by governance (proposal ${gone.proposal}, since ${gone.since}).`);
  const entry = list.issuers.find((e) => e.iss === iss);
  if (!entry) throw new Refusal("untrusted_issuer", `Issuer ${iss} is not on this country's trust list.`);
  if (entry.valid_until && Date.parse(entry.valid_until) / 1000 < now) throw new Refusal("untrusted_issuer", `Trust in issuer ${iss} lapsed.`);
  if (vct !== undefined && Array.isArray(entry.vcts) && !entry.vcts.includes(vct)) throw new Refusal("untrusted_issuer", `Issuer ${iss} is not trusted for credentials of type ${vct}.`);
  return entry;
}

async function disclosed(payload, disclosures) {
  // SD-JWT (RFC 9901 §7.1): each disclosure's digest must be in an _sd array (or an array's {"...": digest}).
  const byDigest = new Map();
  for (const d of disclosures) {
    const digest = b64urlEncode(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(d)));
    if (byDigest.has(digest)) throw new Refusal("duplicate_disclosure", "A disclosure is given twice.");
    const value = jsonOf(b64url(d, "disclosure"), "disclosure");
    if (!Array.isArray(value) || (value.length !== 2 && value.length !== 3)) throw new Refusal("malformed_disclosure", "A disclosure is not an array of 2 or 3 elements.");
    byDigest.set(digest, { value, used: false });
  }
  const seen = new Set();
  const walk = (node) => {
    if (Array.isArray(node)) {
      const outList = [];
      for (const item of node) {
        if (item && typeof item === "object" && !Array.isArray(item) && Object.keys(item).length === 1 && "..." in item) {
          const hit = byDigest.get(item["..."]);
          if (hit) { hit.used = true; outList.push(walk(hit.value[1])); }
        } else outList.push(walk(item));
      }
      return outList;
    }
    if (node === null || typeof node !== "object") return node;
    const result = {};
    for (const [k, v] of Object.entries(node)) if (k !== "_sd" && k !== "_sd_alg") result[k] = walk(v);
    for (const digest of node._sd || []) {
      if (seen.has(digest)) throw new Refusal("duplicate_digest", "A digest appears twice.");
      seen.add(digest);
      const hit = byDigest.get(digest);
      if (!hit) continue;
      if (hit.value.length !== 3) throw new Refusal("malformed_disclosure", "An object's disclosure has no claim name.");
      const [, name, value] = hit.value;
      if (name in result || name === "_sd" || name === "...") throw new Refusal("claim_conflict", `Claim ${name} is disclosed twice.`);
      hit.used = true;
      result[name] = walk(value);
    }
    return result;
  };
  const claims = walk(payload);
  for (const hit of byDigest.values()) if (!hit.used) throw new Refusal("unknown_digest", "A disclosure is not part of this credential.");
  return claims;
}

async function verifyCard(text, saved) {
  const now = Date.now() / 1000;
  text = text.trim();
  if (text.length > 4296) throw new Refusal("oversized_qr", "One QR code holds at most 4,296 characters.");
  if (!text.startsWith("DPI1:")) throw new Refusal("malformed_qr", "QR text of a DPI credential starts with 'DPI1:'.");
  const presentation = await inflate(b45decode(text.slice(5)));
  const list = await checkTrustList(saved, now);
  const parts = presentation.split("~");
  if (parts.length < 2) throw new Refusal("malformed", "An SD-JWT ends with ~.");
  const jws = parseJws(parts[0], "issuer-signed JWT");
  const entry = entryFor(list, jws.payload.iss, jws.payload.vct, now);
  if (jws.header.typ !== "dc+sd-jwt") throw new Refusal("wrong_typ", `typ ${jws.header.typ} is not dc+sd-jwt.`);
  if (jws.header.alg !== "ES256") throw new Refusal("unsupported_alg", `alg ${jws.header.alg} is not supported.`);
  const key = keyOf(entry.jwks, jws.header.kid);
  if (!key) throw new Refusal("unknown_issuer_key", `The issuer has no key ${jws.header.kid}.`);
  if (!(await verifyEs256(key, jws))) throw new Refusal("bad_signature", "The issuer's signature does not verify.");
  if (jws.payload._sd_alg !== undefined && jws.payload._sd_alg !== "sha-256") throw new Refusal("malformed", `_sd_alg ${jws.payload._sd_alg} is not supported.`);
  if (typeof jws.payload.exp === "number" && jws.payload.exp < now) throw new Refusal("expired", "The credential has expired.");
  if (typeof jws.payload.nbf === "number" && jws.payload.nbf > now) throw new Refusal("not_yet_valid", "The credential is not valid yet.");
  const claims = await disclosed(jws.payload, parts.slice(1, -1));
  return { claims, issuer: entry, statusChecked: await checkStatus(jws.payload, entry, now) };
}

async function inflateBytes(bytes, limit) {
  const reader = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate")).getReader();
  const parts = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) { reader.cancel(); throw new Refusal("status_unavailable", "The status list is too large."); }
    parts.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  return all;
}

async function checkStatus(payload, entry, now) {
  // The credential's Token Status List entry (IETF draft-ietf-oauth-status-list): checked with
  // the list kept on this device, signed by the issuer; false when no list is kept for it.
  const ref = payload.status?.status_list;
  if (payload.status === undefined) return true;
  if (!ref || !Number.isInteger(ref.idx) || ref.idx < 0 || typeof ref.uri !== "string") {
    throw new Refusal("status_unavailable", "The credential's status.status_list has no valid idx and uri.");
  }
  let kept = {};
  try { kept = JSON.parse(localStorage.getItem(STATUS_STORE)) || {}; } catch { kept = {}; }
  if (!kept[ref.uri]) return false;
  let jws;
  try { jws = parseJws(kept[ref.uri], "status list"); } catch { throw new Refusal("status_unavailable", "The kept status list is unreadable."); }
  if (jws.header.typ !== "statuslist+jwt" || jws.header.alg !== "ES256" || jws.payload.iss !== entry.iss || jws.payload.sub !== ref.uri) {
    throw new Refusal("status_unavailable", `The kept status list is not the issuer's list ${ref.uri}.`);
  }
  const key = keyOf(entry.jwks, jws.header.kid);
  if (!key || !(await verifyEs256(key, jws))) throw new Refusal("status_unavailable", "The status list's signature does not verify.");
  if (typeof jws.payload.exp === "number" && jws.payload.exp < now) throw new Refusal("status_unavailable", "The kept status list has expired: reload this page while online.");
  const { bits, lst } = jws.payload.status_list || {};
  if (![1, 2, 4, 8].includes(bits) || typeof lst !== "string") throw new Refusal("status_unavailable", "The status list has no valid bits and lst.");
  const array = await inflateBytes(b64url(lst, "status list"), 1 << 20);
  const perByte = 8 / bits;
  if (ref.idx >= array.length * perByte) throw new Refusal("status_unavailable", `Status index ${ref.idx} is outside the list.`);
  const value = (array[Math.floor(ref.idx / perByte)] >> (bits * (ref.idx % perByte))) & ((1 << bits) - 1);
  if (value === 1) throw new Refusal("revoked", "The issuer revoked this credential.");
  if (value === 2) throw new Refusal("suspended", "The issuer suspended this credential.");
  if (value !== 0) throw new Refusal("revoked", `The credential's status is ${value}, not valid.`);
  return true;
}

// -- the answer, as the server renders it ---------------------------------------------------
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function valueText(v) {
  if (v === true || v === false) return v ? T.yes : T.no;
  if (Array.isArray(v)) return v.map(valueText).join(", ");
  if (v && typeof v === "object") return Object.values(v).filter((x) => x !== null && x !== "").join(", ");
  return String(v);
}

function show(answer) {
  out.replaceChildren();
  if (answer.claims) {
    const panel = el("div", "govuk-panel govuk-panel--confirmation");
    panel.append(el("h2", "govuk-panel__title", T.genuine));
    const who = (answer.issuer.name || answer.issuer.iss) + (answer.issuer.country ? ` (${answer.issuer.country})` : "");
    panel.append(el("div", "govuk-panel__body", T.issued_by.replace("{issuer}", who)));
    const list = el("dl", "govuk-summary-list");
    list.id = "verify-claims";
    for (const [name, value] of Object.entries(answer.claims)) {
      if (["iss", "iat", "exp", "nbf", "vct", "cnf", "status"].includes(name)) continue;
      const [base, tag] = name.split("#");
      const row = el("div", "govuk-summary-list__row");
      row.append(el("dt", "govuk-summary-list__key", (T.labels[base] || base) + (tag ? ` (${tag})` : "")),
                 el("dd", "govuk-summary-list__value", valueText(value)));
      list.append(row);
    }
    out.append(panel, list);
    if (!answer.statusChecked) out.append(el("p", "govuk-body-s", T.status_unchecked));
    out.append(el("p", "govuk-inset-text", T.carrier));
  } else {
    const warning = el("div", "govuk-warning-text");
    const icon = el("span", "govuk-warning-text__icon", "!");
    icon.setAttribute("aria-hidden", "true");
    const strong = el("strong", "govuk-warning-text__text");
    const code = answer.code;
    const key = ["expired", "not_yet_valid"].includes(code) ? "expired"
      : ["revoked", "suspended"].includes(code) ? code
      : ["malformed_qr", "oversized_qr"].includes(code) ? "malformed_qr"
      : code in T.reasons ? code : "bad_signature";
    strong.append(el("span", "govuk-visually-hidden", T.warning), `${T.reject} ${T.reasons[key]}`);
    warning.append(icon, strong);
    const detail = el("p", "govuk-body-s");
    detail.id = "verify-detail";
    detail.append(el("span", "dpi-mono", code), `: ${answer.detail}`);
    out.append(warning, detail);
  }
  out.append(el("p", "govuk-body-s", T.checked_here));
  out.dataset.checkedOn = "device";
  out.focus();
}

// -- the trust list, kept for when there is no network -------------------------------------
function saved() {
  try { return JSON.parse(localStorage.getItem(STORE)); } catch { return null; }
}

async function refresh() {
  try {
    const [list, jwks] = await Promise.all([
      fetch("/governance/v1/trusted-issuers").then((r) => (r.ok ? r.text() : Promise.reject(r.status))),
      fetch("/.well-known/jwks.json").then((r) => (r.ok ? r.json() : Promise.reject(r.status)))]);
    await checkTrustList({ list, jwks }, Date.now() / 1000);
    localStorage.setItem(STORE, JSON.stringify({ list, jwks }));
    const index = await fetch("/credentials/v1/status-lists").then((r) => (r.ok ? r.json() : Promise.reject(r.status)));
    const lists = {};
    for (const uri of (index.status_lists || []).slice(-50)) {
      const path = new URL(uri).pathname; // this platform's own lists, from this origin
      lists[uri] = await fetch(path, { headers: { Accept: "application/statuslist+jwt" } }).then((r) => (r.ok ? r.text() : Promise.reject(r.status)));
    }
    localStorage.setItem(STATUS_STORE, JSON.stringify(lists));
  } catch {
    // offline, or a list that does not verify: keep the one we have
  }
  const have = saved();
  if (have) {
    try {
      const payload = await checkTrustList(have, Date.now() / 1000);
      status.textContent = T.offline_ready.replace("{date}", new Date(payload.iat * 1000).toLocaleString(document.documentElement.lang));
      status.hidden = false;
      form.dataset.ready = "true";
    } catch {
      form.dataset.ready = "";
    }
  }
}

if (window.crypto?.subtle && window.DecompressionStream && form) {
  form.addEventListener("submit", async (event) => {
    const have = saved();
    if (form.dataset.ready !== "true" || !have) return; // the platform checks it
    event.preventDefault();
    try {
      show(await verifyCard(document.getElementById("qr").value, have));
    } catch (e) {
      if (e instanceof Refusal) show({ code: e.code, detail: e.message });
      else if (navigator.onLine) form.submit();
      else show({ code: "malformed", detail: String(e) });
    }
  });
  refresh();
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/verify-sw.js", { scope: "/verify" }).catch(() => {});
}
