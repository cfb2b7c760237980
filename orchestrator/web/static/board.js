// Keeps the asset board current (plain JS, no framework): every 5 s it fetches the same page and
// swaps in the new tiles, so a tablet on the shop floor neither flickers nor loses its scroll
// position. Without JS the page still shows the state it was loaded with.
(function () {
  "use strict";
  const board = document.getElementById("board");
  if (!board) return;
  async function refresh() {
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      if (response.redirected || response.status === 401) {
        window.location.assign(response.url); // signed out meanwhile: show the sign-in form
        return;
      }
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("board");
      if (fresh) board.replaceChildren(...fresh.childNodes);
    } catch (err) {
      // A failed refresh is retried at the next tick; the board keeps its last state.
    }
  }
  setInterval(refresh, 5000);
})();
