// Refreshes the asset board every 5 s (plain JS). Without JS the page still shows the last state.
(function () {
  "use strict";
  setInterval(function () { window.location.reload(); }, 5000);
})();
