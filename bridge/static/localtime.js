// Times are shown in the institution's zone (named beside them); where this browser's own
// zone differs, add the same moment in the browser's zone. See bridge/timezones.py.
(function () {
  "use strict";
  var own;
  try { own = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!own) { return; }
  var fmt = new Intl.DateTimeFormat("sv-SE", {timeZone: own, year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23"});
  function annotate(root) {
    var nodes = (root || document).querySelectorAll("time.localtime[data-tz]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      if (node.dataset.browserShown || node.dataset.tz === own) { continue; }
      var when = new Date(node.getAttribute("datetime"));
      if (isNaN(when.getTime())) { continue; }
      var extra = document.createElement("span");
      extra.className = "tz-browser";
      extra.textContent = " · " + fmt.format(when).replace(",", "") + " (" + own + ")";
      node.after(extra);
      node.dataset.browserShown = "1";
    }
  }
  window.exambridgeLocalTimes = annotate;  // pages that insert times later call it again
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { annotate(); });
  } else { annotate(); }
})();
