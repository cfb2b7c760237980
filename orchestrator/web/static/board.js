// Keeps the asset board and the alarm list current without a reload (plain JS, no framework):
// the server pushes the alarm list (and the tiles) as server-sent events whenever they change.
// While someone is typing a comment or a shelve reason, the alarm list waits for them: the
// newest version is swapped in once the form is left. Without JS the pages still work (forms).
(function () {
  "use strict";
  const alarms = document.getElementById("alarms");
  const board = document.getElementById("board");
  if (!alarms || !alarms.dataset.stream) return;
  let pending = null;

  function busy() {
    const active = document.activeElement;
    if (active && alarms.contains(active) && active.matches("input, textarea, select")) return true;
    return Array.from(alarms.querySelectorAll("input[name=comment], input[name=reason]"))
      .some((input) => input.value.trim() !== "");
  }
  function swapAlarms(html) {
    if (busy()) { pending = html; return; }
    pending = null;
    // Keep open what the person opened (an alarm's history, its note form).
    const key = (d) => d.closest("li.alarm").dataset.id + " " + d.className;
    const open = new Set(Array.from(alarms.querySelectorAll("li.alarm details[open]")).map(key));
    alarms.innerHTML = html;
    for (const d of alarms.querySelectorAll("li.alarm details")) {
      if (open.has(key(d))) d.open = true;
    }
  }
  alarms.addEventListener("focusout", () => {
    setTimeout(() => { if (pending !== null) swapAlarms(pending); }, 0);
  });

  const source = new EventSource(alarms.dataset.stream, { withCredentials: true });
  source.addEventListener("update", (event) => {
    const data = JSON.parse(event.data);
    if (data.alarms !== undefined) swapAlarms(data.alarms);
    if (data.tiles !== undefined && board) board.innerHTML = data.tiles;
  });
  // EventSource reconnects by itself after a dropped stream. It gives up on an error status
  // (401 once the session expired): then show the sign-in form, unless the page is being left.
  let leaving = false;
  window.addEventListener("pagehide", () => { leaving = true; source.close(); });
  source.addEventListener("error", async () => {
    if (leaving || source.readyState !== EventSource.CLOSED) return;
    try {
      const me = await fetch("/api/me", { credentials: "same-origin" });
      if (me.status === 401) window.location.assign("/login");
    } catch (err) {
      // The server is away; the page keeps its last state.
    }
  });
  const filters = document.getElementById("filters");
  if (filters) {
    for (const select of filters.querySelectorAll("select")) {
      select.addEventListener("change", () => filters.submit());
    }
  }
})();
