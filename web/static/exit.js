/* Quick exit. The link works without JavaScript; with it, leaving also replaces this
   page's entry in the browser history, so "Back" does not return here. Pressing Escape
   three times quickly does the same. No dependencies, no inline handlers (CSP). */
(function () {
  "use strict";

  function leave(href) {
    try {
      document.body.style.visibility = "hidden";
    } catch (e) { /* nothing to hide */ }
    try {
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, "", "/");
      }
    } catch (e) { /* not allowed here: the replace below still happens */ }
    window.location.replace(href);
  }

  function setup() {
    var link = document.getElementById("quick-exit");
    if (!link) {
      return;
    }
    var href = link.href;

    link.addEventListener("click", function (event) {
      if (event.preventDefault) {
        event.preventDefault();
      }
      leave(href);
    }, false);

    var presses = [];
    document.addEventListener("keydown", function (event) {
      var key = event.key || event.keyCode;
      if (key !== "Escape" && key !== "Esc" && key !== 27) {
        return;
      }
      var now = new Date().getTime();
      presses.push(now);
      while (presses.length && now - presses[0] > 1500) {
        presses.shift();
      }
      if (presses.length >= 3) {
        presses = [];
        leave(href);
      }
    }, false);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup, false);
  } else {
    setup();
  }
}());
