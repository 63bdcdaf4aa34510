// The verifier page's service worker (scope /verify): the page and its assets come from the
// network when there is one, and from this cache when the device is offline, so that a
// verifier who opened the page once can still check cards without a network.
const CACHE = "dpi-verify-v1";
const ASSETS = ["/static/portal.css", "/static/portal.js", "/static/govuk-frontend.min.js", "/static/verify.js"];

self.addEventListener("install", (event) => {
  // The page too: the load that registered this worker was not yet under its control.
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(["/verify", ...ASSETS])).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname !== "/verify" && !ASSETS.includes(url.pathname)) return;
  event.respondWith(
    fetch(event.request).then((response) => {
      if (response.ok) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
      }
      return response;
    }).catch(() => caches.match(url.pathname).then((hit) => hit || Response.error())),
  );
});
