// Keeps the inbox current without a reload: items someone else completed disappear; asks
// once before an approval is sent.
// Plain JS, no framework; polls the JSON API every 2 s.
(function () {
  "use strict";
  const inbox = document.getElementById("inbox");
  const count = document.getElementById("count");
  if (!inbox) return;
  async function refresh() {
    try {
      const response = await fetch("/api/approvals", { credentials: "same-origin" });
      if (!response.ok) return;
      const pending = new Set((await response.json()).map((item) => item.id));
      let shown = 0;
      for (const li of Array.from(inbox.querySelectorAll("li[data-id]"))) {
        if (!pending.has(li.dataset.id)) li.remove(); else shown += 1;
      }
      if (count) count.textContent = shown + " pending" + (pending.size > shown ? " (" + (pending.size - shown) + " new: reload)" : "");
      if (shown === 0 && !document.getElementById("empty")) {
        const empty = document.createElement("p");
        empty.id = "empty";
        empty.className = "muted";
        empty.textContent = "Nothing waits for approval.";
        inbox.before(empty);
      }
    } catch (err) {
      // A failed poll is retried at the next tick; the page stays usable.
    }
  }
  // Approving asks once, showing what will happen (amount, what it creates). Rejecting needs
  // a comment and changes nothing outside, so it does not ask.
  inbox.addEventListener("submit", (event) => {
    const button = event.submitter;
    const question = button && button.dataset ? button.dataset.confirm : "";
    if (question && !window.confirm(question)) event.preventDefault();
  });
  setInterval(refresh, 2000);
})();
