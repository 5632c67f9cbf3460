// The status page's only script, inlined: fetches the page again every few
// seconds and puts the new <main> in place of the old (server-rendered,
// escaped there; parsed here without running anything), keeping open
// <details> open and the focus where it was; counts the deadlines down
// between two refreshes, on the daemon's clock (the page says its time; the
// browser's own may be off). Pausing stops the refreshes.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var pause = document.getElementById("pause");
  var updated = document.getElementById("updated");
  var every = Number(main.getAttribute("data-refresh") || "3") * 1000;
  var paused = false;
  // The daemon's clock minus the browser's, from the page's own time.
  var skew = 0;

  function setSkew() {
    var stamp = updated.querySelector("time");
    var server = stamp ? Date.parse(stamp.getAttribute("datetime")) : NaN;
    skew = isNaN(server) ? 0 : server - Date.now();
  }

  pause.addEventListener("click", function () {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume updates" : "Pause updates";
  });

  function left(deadline) {
    var s = Math.round(deadline - (Date.now() + skew) / 1000);
    var past = s < 0;
    s = Math.abs(s);
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    var text = d > 0 ? d + " d " + h + " h" : h > 0 ? h + " h " + m + " min" : m > 0 ? m + " min " + (s % 60) + " s" : s + " s";
    return past ? "passed " + text + " ago" : text + " left";
  }

  function tick() {
    var counting = document.querySelectorAll("[data-countdown]");
    for (var i = 0; i < counting.length; i++) {
      counting[i].textContent = left(Number(counting[i].getAttribute("data-countdown")));
    }
  }

  function swap(fresh) {
    var open = {};
    var details = main.querySelectorAll("details[id][open]");
    for (var i = 0; i < details.length; i++) open[details[i].id] = true;
    var focused = document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : "";
    var again = fresh.querySelectorAll("details[id]");
    for (var j = 0; j < again.length; j++) if (open[again[j].id]) again[j].setAttribute("open", "");
    main.replaceChildren.apply(main, Array.prototype.slice.call(fresh.childNodes));
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  }

  function refresh() {
    if (paused || document.hidden) return setTimeout(refresh, every);
    // location.origin, not a relative URL: a page opened as
    // http://user:token@host/ would make fetch refuse the URL's credentials.
    fetch(new URL("/", location.origin), { cache: "no-store", credentials: "same-origin" })
      .then(function (answer) {
        if (!answer.ok) throw new Error("HTTP " + answer.status);
        return answer.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        var stamp = doc.getElementById("updated");
        if (!fresh || !stamp) throw new Error("not the status page");
        swap(fresh);
        updated.replaceChildren.apply(updated, Array.prototype.slice.call(stamp.childNodes));
        setSkew();
        tick();
      })
      .catch(function (e) {
        updated.textContent = "Update failed (" + e.message + "); trying again";
      })
      .then(function () { setTimeout(refresh, every); });
  }

  setSkew();
  setInterval(tick, 1000);
  setTimeout(refresh, every);
})();
