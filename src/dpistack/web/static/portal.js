// Progressive enhancement only: every page works without this file.
import { initAll } from "./govuk-frontend.min.js";
document.body.classList.add("govuk-frontend-supported");
initAll();

// Forms marked with hx-post (htmx.min.js) replace only the page's main content. Then the new
// content's components start, and focus goes where a person must look: the error summary or
// the success banner (they focus themselves), else the heading.
document.body.addEventListener("htmx:afterSettle", () => {
  const main = document.getElementById("main-content");
  if (!main) return;
  initAll(main);
  if (!main.querySelector(".govuk-error-summary, .govuk-notification-banner[role=alert]")) {
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }
});
