"""A minimal holder wallet: receive SD-JWT VCs by OpenID4VCI, present them by OpenID4VP.

The wallet is a holder like a phone app: it speaks to issuers and verifiers only over HTTP
(``httpx``), never through this platform's service layer, so it works with any issuer and
verifier speaking the same protocols. What it keeps (the credentials and one private key per
credential) lives in a :class:`~dpistack.credentials.wallet_store.WalletFile`, encrypted.

Receiving (OpenID4VCI 1.0, pre-authorized code flow):

1. the Credential Offer, by value (``openid-credential-offer://?credential_offer=…``) or by
   reference (``credential_offer_uri``, fetched with GET); its values are not trusted (§13.1);
2. the issuer's metadata (``/.well-known/openid-credential-issuer``, its ``credential_issuer``
   identical to the offer's), then the Authorization Server's (RFC 8414
   ``/.well-known/oauth-authorization-server`` of ``authorization_servers[0]`` or the issuer);
3. the Token Request with the code and, when the offer asks for one, the Transaction Code
   (checked against the offer's ``input_mode`` and ``length`` before it is sent);
4. a ``c_nonce`` from the nonce endpoint, a fresh P-256 key for each credential and its proof
   (``openid4vci-proof+jwt``: ``aud`` the issuer, ``iat``, ``nonce``, the key in ``jwk``);
5. the credential is checked before it is kept: the issuer's signature with the keys of its
   ``/.well-known/jwt-vc-issuer``, ``iss``, ``vct`` and that it is bound to the new key.

Presenting (OpenID4VP 1.0, ``response_mode=direct_post``, unsigned requests with the
``redirect_uri:`` Client Identifier prefix): the ``openid4vp://`` request is parsed, its DCQL
query matched against the stored credentials (``vct_values``, every claims path, ``values``),
and for each credential query the wallet discloses only the claims the query names, with a
KB-JWT whose ``nonce`` is the request's and whose ``aud`` is the full ``client_id``, posted
form-encoded to the ``response_uri``. Declining posts ``error=access_denied``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from dpistack.credentials import errors as E
from dpistack.credentials import qr, sdjwt
from dpistack.credentials.openid4vp import select_path

PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
PROOF_TYP = "openid4vci-proof+jwt"
FORMAT = "dc+sd-jwt"
OFFER_SCHEMES = ("openid-credential-offer", "https", "http")
REQUEST_SCHEMES = ("openid4vp", "https", "http")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
ALWAYS_VISIBLE = ("iss", "vct", "iat", "exp", "nbf", "cnf", "status")


class WalletError(Exception):
    """Something the wallet cannot or will not do; ``code`` for machines, the message for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


# -- small helpers ---------------------------------------------------------------------------
def _json_param(params: dict[str, list[str]], name: str, what: str) -> Any:
    try:
        return json.loads(params[name][0])
    except ValueError as exc:
        raise WalletError("bad_uri", f"The {what}'s {name} is not JSON.") from exc


def _query(uri: str, schemes: tuple[str, ...], what: str) -> dict[str, list[str]]:
    if not isinstance(uri, str) or len(uri) > 64 * 1024:
        raise WalletError("bad_uri", f"That is not a {what} link.")
    parts = urlsplit(uri.strip())
    if parts.scheme not in schemes:
        raise WalletError("bad_uri", f"A {what} link starts with {schemes[0]}:// (this one: {parts.scheme or 'none'}:).")
    params = parse_qs(parts.query, keep_blank_values=True)
    if any(len(v) > 1 for v in params.values()):
        raise WalletError("bad_uri", f"The {what} link repeats a parameter.")
    return params


def well_known(identifier: str, name: str) -> str:
    """``/.well-known/<name>`` inserted between the host and the path (RFC 8414 §3, OpenID4VCI §12.2.2)."""
    parts = urlsplit(identifier)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}/.well-known/{name}{path}"


def private_jwk(key: ec.EllipticCurvePrivateKey) -> dict:
    return {**sdjwt.public_jwk(key), "d": sdjwt.b64e(key.private_numbers().private_value.to_bytes(32, "big"))}


def key_from_private_jwk(jwk: dict) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(sdjwt.b64d(jwk["d"]), "big"), ec.SECP256R1())


def credential_claims(entry: dict) -> tuple[dict, dict]:
    """(the claims the holder can disclose, the claims every presentation shows) of a stored credential."""
    jwt = entry["credential"].split("~", 1)[0]
    payload = sdjwt.b64json(jwt.split(".")[1])
    disclosable = {name: value for _, name, value in sdjwt.disclosures_of(entry["credential"]) if name is not None}
    always = {k: v for k, v in payload.items() if k not in ("_sd", "_sd_alg")}
    return disclosable, always


# -- what the wallet reads from links --------------------------------------------------------
@dataclass
class Offer:
    credential_issuer: str
    configuration_ids: list[str]
    pre_authorized_code: str
    tx_code: dict | None  # the offer's tx_code object: a Transaction Code is required if present
    authorization_server: str | None = None


@dataclass
class PresentationRequest:
    client_id: str
    response_uri: str
    nonce: str
    state: str | None
    dcql_query: dict

    @property
    def verifier_host(self) -> str:
        return urlsplit(self.response_uri).netloc


@dataclass
class Match:
    """A credential that answers one credential query, and the claims to disclose for it."""

    query_id: str
    entry: dict
    disclose: list[str]
    requested: list[str] = field(default_factory=list)  # the claims paths asked for, for people


class Holder:
    """The holder's protocol side over ``data`` (the wallet's decrypted contents) and ``http``."""

    def __init__(self, data: dict, http: httpx.Client, *, allow_http: bool = False):
        self.data, self.http, self.allow_http = data, http, allow_http
        self.data.setdefault("credentials", [])

    # -- URLs and HTTP -------------------------------------------------------------------------
    def _check_url(self, url: Any, what: str) -> str:
        if not isinstance(url, str):
            raise WalletError("bad_uri", f"The {what} is not a URL.")
        parts = urlsplit(url)
        if not parts.netloc or parts.fragment:
            raise WalletError("bad_uri", f"The {what} {url!r} is not an absolute URL.")
        if parts.scheme == "https" or (parts.scheme == "http" and (parts.hostname in LOOPBACK or self.allow_http)):
            return url
        raise WalletError("insecure_url", f"The {what} {url!r} does not use https; this wallet will not send "
                                          "codes or credentials there.")

    def _call(self, method: str, url: str, who: str, **kw) -> dict:
        try:
            r = self.http.request(method, url, **kw)
        except httpx.HTTPError as exc:
            raise WalletError("unreachable", f"The {who} at {url} cannot be reached: {exc}") from exc
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code >= 400:
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                detail = body["error"] + (f": {body['error_description']}" if body.get("error_description") else "")
            else:
                detail = f"HTTP {r.status_code}"
            code = {"authorization server": "token_refused"}.get(who, f"{who}_refused")
            raise WalletError(code, f"The {who} refused: {detail}")
        if not isinstance(body, dict):
            raise WalletError("bad_answer", f"The {who} at {url} did not answer with a JSON object.")
        return body

    # -- receiving -----------------------------------------------------------------------------
    def parse_offer(self, uri: str) -> Offer:
        params = _query(uri, OFFER_SCHEMES, "credential offer")
        if ("credential_offer" in params) == ("credential_offer_uri" in params):
            raise WalletError("bad_uri", "A credential offer link carries credential_offer or credential_offer_uri "
                                         "(one of them).")
        if "credential_offer" in params:
            offer = _json_param(params, "credential_offer", "credential offer")
        else:
            offer = self._call("GET", self._check_url(params["credential_offer_uri"][0], "credential_offer_uri"),
                               "issuer", headers={"Accept": "application/json"})
        if not isinstance(offer, dict):
            raise WalletError("bad_offer", "The credential offer is not a JSON object.")
        issuer = self._check_url(offer.get("credential_issuer"), "credential issuer")
        if urlsplit(issuer).query:
            raise WalletError("bad_offer", "A credential issuer identifier has no query.")
        ids = offer.get("credential_configuration_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids) or len(set(ids)) != len(ids):
            raise WalletError("bad_offer", "The offer's credential_configuration_ids is not a list of unique names.")
        grants = offer.get("grants") or {}
        grant = grants.get(PRE_AUTH) if isinstance(grants, dict) else None
        if not isinstance(grant, dict) or not isinstance(grant.get("pre-authorized_code"), str):
            raise WalletError("unsupported_offer", "This wallet takes offers with a pre-authorized code; this one has none.")
        tx_code = grant.get("tx_code")
        if tx_code is not None and not isinstance(tx_code, dict):
            raise WalletError("bad_offer", "The offer's tx_code is not an object.")
        return Offer(issuer, ids, grant["pre-authorized_code"], tx_code, grant.get("authorization_server"))

    @staticmethod
    def check_tx_code(offer: Offer, tx_code: str | None) -> None:
        """Refuse, before anything is sent, a Transaction Code the offer's description rules out
        (a wrong guess sent would use up one of the few attempts)."""
        if offer.tx_code is None:
            if tx_code:
                raise WalletError("tx_code_not_expected", "This offer asks for no transaction code.")
            return
        if not tx_code:
            raise WalletError("tx_code_required", "This offer needs the transaction code the issuer sent you "
                                                  f"separately{': ' + str(offer.tx_code['description']) if offer.tx_code.get('description') else ''}.")
        if offer.tx_code.get("input_mode", "numeric") == "numeric" and not tx_code.isdigit():
            raise WalletError("bad_tx_code", "The transaction code is digits only.")
        length = offer.tx_code.get("length")
        if isinstance(length, int) and len(tx_code) != length:
            raise WalletError("bad_tx_code", f"The transaction code has {length} characters.")

    def receive(self, offer: Offer, tx_code: str | None = None) -> list[dict]:
        """Run the pre-authorized code flow for ``offer``; the credentials stored (entries of ``data``)."""
        self.check_tx_code(offer, tx_code)
        issuer = offer.credential_issuer
        meta = self._call("GET", well_known(issuer, "openid-credential-issuer"), "issuer")
        if meta.get("credential_issuer") != issuer:
            raise WalletError("bad_metadata", f"The issuer's metadata names {meta.get('credential_issuer')!r}, not "
                                              f"{issuer!r} as the offer does.")
        configs = meta.get("credential_configurations_supported")
        configs = configs if isinstance(configs, dict) else {}
        wanted = [(cid, configs[cid]) for cid in offer.configuration_ids
                  if isinstance(configs.get(cid), dict) and configs[cid].get("format") == FORMAT
                  and sdjwt.ALG in ((configs[cid].get("proof_types_supported") or {}).get("jwt") or {})
                  .get("proof_signing_alg_values_supported", [])]
        if not wanted:
            raise WalletError("unsupported_offer", f"None of the offered credentials ({', '.join(offer.configuration_ids)}) "
                                                   "is an SD-JWT VC with ES256 key proofs, which this wallet holds.")
        servers = meta.get("authorization_servers") or [issuer]
        if not isinstance(servers, list):
            raise WalletError("bad_metadata", "The issuer's authorization_servers is not a list.")
        server = offer.authorization_server or servers[0]
        if server not in servers:
            raise WalletError("bad_offer", f"The offer names an authorization server {server!r} the issuer does not.")
        as_meta = self._call("GET", well_known(self._check_url(server, "authorization server"),
                                               "oauth-authorization-server"), "authorization server")
        if str(as_meta.get("issuer")).rstrip("/") != server.rstrip("/"):
            raise WalletError("bad_metadata", f"The authorization server's metadata names {as_meta.get('issuer')!r}.")
        if PRE_AUTH not in as_meta.get("grant_types_supported", [PRE_AUTH]):
            raise WalletError("unsupported_offer", "The authorization server does not take pre-authorized codes.")
        form = {"grant_type": PRE_AUTH, "pre-authorized_code": offer.pre_authorized_code}
        if tx_code:
            form["tx_code"] = tx_code
        token = self._call("POST", self._check_url(as_meta.get("token_endpoint"), "token endpoint"),
                           "authorization server", data=form)
        if not isinstance(token.get("access_token"), str):
            raise WalletError("bad_answer", "The token response has no access_token.")
        trusted = self._issuer_keys(issuer)
        stored = []
        for cid, config in wanted:
            credential, key = self._request_credential(meta, cid, token["access_token"])
            stored.append(self._keep(credential, key, issuer, cid, config, meta, trusted))
        return stored

    def _issuer_keys(self, issuer: str) -> sdjwt.TrustedIssuers:
        jwt_vc = self._call("GET", well_known(issuer, "jwt-vc-issuer"), "issuer")
        if jwt_vc.get("issuer") != issuer or not isinstance(jwt_vc.get("jwks"), dict):
            raise WalletError("bad_metadata", "The issuer's /.well-known/jwt-vc-issuer does not name it with its keys.")
        trusted = sdjwt.TrustedIssuers()
        trusted.add_jwks(issuer, jwt_vc["jwks"])
        return trusted

    def _request_credential(self, meta: dict, cid: str, access_token: str) -> tuple[str, ec.EllipticCurvePrivateKey]:
        endpoint = self._check_url(meta.get("credential_endpoint"), "credential endpoint")
        key = ec.generate_private_key(ec.SECP256R1())  # one key per credential: presentations are unlinkable
        for attempt in range(2):  # a nonce may be used up by the time it arrives: one retry with a new one
            nonce_endpoint = meta.get("nonce_endpoint")
            payload: dict[str, Any] = {"aud": meta["credential_issuer"], "iat": int(time.time())}
            if nonce_endpoint:
                nonce = self._call("POST", self._check_url(nonce_endpoint, "nonce endpoint"), "issuer").get("c_nonce")
                if not isinstance(nonce, str):
                    raise WalletError("bad_answer", "The nonce endpoint gave no c_nonce.")
                payload["nonce"] = nonce
            proof = sdjwt.sign_jws({"alg": sdjwt.ALG, "typ": PROOF_TYP, "jwk": sdjwt.public_jwk(key)}, payload, key)
            try:
                answer = self._call("POST", endpoint, "issuer", headers={"Authorization": f"Bearer {access_token}"},
                                    json={"credential_configuration_id": cid, "proofs": {"jwt": [proof]}})
            except WalletError as exc:
                if attempt == 0 and "invalid_nonce" in exc.message:
                    continue
                raise
            credentials = answer.get("credentials")
            if not isinstance(credentials, list) or not credentials or not isinstance(credentials[0], dict) \
                    or not isinstance(credentials[0].get("credential"), str):
                if answer.get("transaction_id"):
                    raise WalletError("unsupported_offer", "The issuer deferred the credential; this wallet "
                                                           "does not poll for deferred credentials.")
                raise WalletError("bad_answer", "The credential response carries no credential.")
            return credentials[0]["credential"], key
        raise WalletError("issuer_refused", "The issuer refused every nonce.")  # pragma: no cover

    def _keep(self, credential: str, key: ec.EllipticCurvePrivateKey, issuer: str, cid: str, config: dict,
              meta: dict, trusted: sdjwt.TrustedIssuers) -> dict:
        try:
            verified = sdjwt.verify(credential, trusted, require_key_binding=False)
        except E.SdJwtError as exc:
            raise WalletError("bad_credential", f"The issued credential does not verify ({exc.code}): {exc.detail}") from exc
        if verified.claims.get("iss") != issuer:
            raise WalletError("bad_credential", f"The credential is issued by {verified.claims.get('iss')!r}, not {issuer!r}.")
        if config.get("vct") and verified.claims.get("vct") != config["vct"]:
            raise WalletError("bad_credential", f"The credential is a {verified.claims.get('vct')!r}, not the "
                                                f"{config['vct']!r} offered.")
        if verified.holder_jwk != sdjwt.public_jwk(key):
            raise WalletError("bad_credential", "The credential is not bound to the key this wallet proved.")
        display = ((config.get("credential_metadata") or {}).get("display") or config.get("display") or [{}])[0]
        entry = {
            "id": "c-" + uuid.uuid4().hex[:8], "format": FORMAT, "configuration_id": cid, "vct": verified.claims["vct"],
            "name": display.get("name") or cid, "issuer": issuer,
            "issuer_name": ((meta.get("display") or [{}])[0]).get("name") or issuer,
            "received_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "expires_at": verified.claims.get("exp"), "credential": credential, "key": private_jwk(key),
        }
        self.data["credentials"].append(entry)
        return entry

    # -- what is held --------------------------------------------------------------------------
    @property
    def credentials(self) -> list[dict]:
        return self.data["credentials"]

    def get(self, credential_id: str) -> dict:
        for entry in self.credentials:
            if entry["id"] == credential_id:
                return entry
        raise WalletError("unknown_credential", f"This wallet holds no credential {credential_id!r} "
                                                "(see `dpi wallet list`).")

    def card(self, credential_id: str, claims: list[str]) -> str:
        """The printable QR text (``DPI1:…``) of a credential showing only ``claims``, no key binding."""
        entry = self.get(credential_id)
        disclosable, _ = credential_claims(entry)
        missing = [c for c in claims if c not in disclosable]
        if missing:
            raise WalletError("unknown_claim", f"The credential has no claim {', '.join(missing)} to show "
                                               f"(it has {', '.join(sorted(disclosable))}).")
        try:
            return qr.encode(qr.card_presentation(entry["credential"], claims))
        except E.SdJwtError as exc:
            raise WalletError(exc.code, exc.detail) from exc

    # -- presenting ----------------------------------------------------------------------------
    def parse_request(self, uri: str) -> PresentationRequest:
        params = _query(uri, REQUEST_SCHEMES, "presentation request")
        if "request_uri" in params or "request" in params:
            raise WalletError("unsupported_request", "Signed request objects (request, request_uri) are not "
                                                     "supported by this wallet.")
        one = {k: v[0] for k, v in params.items()}
        if one.get("response_type") != "vp_token":
            raise WalletError("bad_request", "The request's response_type is not vp_token.")
        if one.get("response_mode") != "direct_post":
            raise WalletError("unsupported_request", f"Response mode {one.get('response_mode')!r}: this wallet "
                                                     "answers by direct_post only.")
        response_uri = self._check_url(one.get("response_uri"), "response_uri")
        client_id = one.get("client_id", "")
        if not client_id.startswith("redirect_uri:"):
            raise WalletError("unsupported_request", f"Client identifier {client_id!r}: an unsigned request uses the "
                                                     "redirect_uri: prefix, the only one this wallet accepts.")
        if client_id != "redirect_uri:" + response_uri:
            raise WalletError("bad_request", "The request's client_id is not its response_uri (redirect_uri: prefix).")
        if not one.get("nonce"):
            raise WalletError("bad_request", "The request carries no nonce.")
        if "dcql_query" not in params:
            raise WalletError("unsupported_request", "The request has no dcql_query (presentation_definition is "
                                                     "not supported).")
        query = _json_param(params, "dcql_query", "presentation request")
        if not isinstance(query, dict) or not isinstance(query.get("credentials"), list) or not query["credentials"]:
            raise WalletError("bad_request", "The dcql_query has no credential queries.")
        return PresentationRequest(client_id, response_uri, one["nonce"], one.get("state"), query)

    def match(self, request: PresentationRequest) -> list[Match]:
        """For each credential query the newest stored credential that answers it, and what to disclose."""
        if request.dcql_query.get("credential_sets") is not None:
            raise WalletError("unsupported_request", "credential_sets are not supported by this wallet.")
        matches = []
        for q in request.dcql_query["credentials"]:
            if not isinstance(q, dict) or not isinstance(q.get("id"), str):
                raise WalletError("bad_request", "A credential query has no id.")
            if q.get("claim_sets") is not None:
                raise WalletError("unsupported_request", "claim_sets are not supported by this wallet.")
            claims = q.get("claims") or []
            meta = q.get("meta") or {}
            vcts = (meta.get("vct_values") or []) if isinstance(meta, dict) else []
            if not isinstance(claims, list) or not all(
                    isinstance(c, dict) and isinstance(c.get("path"), list) and c["path"] for c in claims):
                raise WalletError("bad_request", f"The claims of credential query {q['id']!r} are not claims queries.")
            if not isinstance(vcts, list):
                raise WalletError("bad_request", "meta.vct_values is not a list.")
            found = None
            for entry in reversed(self.credentials):
                if q.get("format") != entry["format"] or (vcts and entry["vct"] not in vcts):
                    continue
                disclosable, always = credential_claims(entry)
                everything = {**always, **disclosable}
                if all(self._has(everything, c) for c in claims):
                    found = entry
                    break
            names = [".".join("*" if p is None else str(p) for p in c.get("path", [])) for c in claims]
            if found is None:
                raise WalletError("no_matching_credential", f"No credential in this wallet answers the query "
                                                            f"{q['id']!r} ({', '.join(vcts) or q.get('format')}"
                                                            f"{' with ' + ', '.join(names) if names else ''}).")
            disclosable, _ = credential_claims(found)
            disclose = sorted({c["path"][0] for c in claims if isinstance(c["path"][0], str)} & set(disclosable))
            matches.append(Match(q["id"], found, disclose, names))
        return matches

    @staticmethod
    def _has(claims: dict, query: dict) -> bool:
        found = select_path(claims, query["path"])
        values = query.get("values")
        return bool(found) and (not isinstance(values, list) or any(v in values for v in found))

    def answer(self, request: PresentationRequest, matches: list[Match]) -> dict[str, str]:
        """The Authorization Response (form fields): for each match only its claims' disclosures
        and a KB-JWT for the request's ``nonce`` and ``client_id``."""
        vp_token = {}
        for m in matches:
            key = key_from_private_jwk(m.entry["key"])
            vp_token[m.query_id] = [sdjwt.present(m.entry["credential"], m.disclose, holder_key=key,
                                                  audience=request.client_id, nonce=request.nonce)]
        form = {"vp_token": json.dumps(vp_token, separators=(",", ":"))}
        if request.state is not None:
            form["state"] = request.state
        return form

    def send(self, request: PresentationRequest, form: dict[str, str]) -> dict:
        """Post a response to the verifier (direct_post); its answer, or ``verifier_refused``."""
        return self._call("POST", request.response_uri, "verifier", data=form)

    def present(self, request: PresentationRequest, matches: list[Match]) -> dict:
        """Disclose the matched claims with key binding to the verifier; its answer, or ``verifier_refused``."""
        return self.send(request, self.answer(request, matches))

    def decline(self, request: PresentationRequest, description: str) -> None:
        """Tell the verifier the holder said no (``access_denied``); its answer does not matter."""
        form = {"error": "access_denied", "error_description": description[:300]}
        if request.state is not None:
            form["state"] = request.state
        try:
            self._call("POST", request.response_uri, "verifier", data=form)
        except WalletError:
            pass
