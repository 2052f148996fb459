// The live queue: when the server says the queue changed, fetch its rows and its alerts
// (pages waiting for acknowledgement, the nobody-reachable banner) again and swap them in,
// keeping focus and scroll, and say how many tips are new. The alerts are also fetched
// once a minute, since a shift ending changes who is on call without changing any tip.
// Without JavaScript the page is whole; the Refresh link reloads it.
(function () {
  "use strict";
  var table = document.getElementById("queue");
  var live = document.getElementById("queue-live");
  if (!table || !live || !window.EventSource || !window.fetch) {
    return;
  }
  var stamp = table.getAttribute("data-stamp") || "";
  var pageUrl = table.getAttribute("data-url") || "/dashboard/";
  var busy = false;
  var again = false;

  function rowIds(tbody) {
    var ids = {};
    var rows = tbody.querySelectorAll("tr[data-tip-id]");
    for (var i = 0; i < rows.length; i++) {
      ids[rows[i].getAttribute("data-tip-id")] = true;
    }
    return ids;
  }

  var ALERTS_EVERY_MS = 60000;

  function fragmentUrl(name) {
    // The rows follow this page's filters and place; the alerts are the same for everyone.
    var url = new URL(name === "rows" ? pageUrl : "/dashboard/", window.location.href);
    url.searchParams.set("fragment", name);
    return url.toString();
  }

  function fetchFragment(name) {
    return fetch(fragmentUrl(name), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        var type = response.headers.get("content-type") || "";
        if (response.ok && !response.redirected && type.indexOf("text/html") === 0) {
          return response.text();
        }
        return null;
      });
  }

  function swapAlerts(html) {
    var old = document.getElementById("queue-alerts");
    if (!old || html === null) {
      return;
    }
    var holder = document.createElement("div");
    holder.innerHTML = html;  // our own server's escaped HTML, same origin
    var fresh = holder.querySelector("#queue-alerts");
    if (!fresh) {
      return;
    }
    var focused = document.activeElement;
    var focusForm = null;
    if (focused && old.contains(focused) && focused.form) {
      focusForm = focused.form.getAttribute("action");
    }
    old.parentNode.replaceChild(fresh, old);
    if (focusForm) {
      var button = fresh.querySelector('form[action="' + focusForm.replace(/"/g, "") + '"] button');
      if (button) {
        button.focus({ preventScroll: true });
      }
    }
    document.dispatchEvent(new CustomEvent("hotline:alerts"));
  }

  function updateTotals(tbody) {
    var totals = document.querySelectorAll("[data-total]");
    for (var i = 0; i < totals.length; i++) {
      var value = tbody.getAttribute("data-total-" + totals[i].getAttribute("data-total"));
      if (value !== null) {
        totals[i].textContent = value;
      }
    }
  }

  function swap(html) {
    var old = document.getElementById("queue-rows");
    var holder = document.createElement("table");
    holder.innerHTML = html;  // our own server's escaped HTML, same origin
    var fresh = holder.querySelector("tbody");
    if (!old || !fresh) {
      return;
    }
    var before = rowIds(old);
    var after = rowIds(fresh);
    var added = 0;
    for (var id in after) {
      if (Object.prototype.hasOwnProperty.call(after, id) && !before[id]) {
        added++;
      }
    }
    // Keep focus on the same link if it is still there, and the scroll where it was.
    var focused = document.activeElement;
    var focusHref = focused && old.contains(focused) ? focused.getAttribute("href") : null;
    var x = window.scrollX;
    var y = window.scrollY;
    old.parentNode.replaceChild(fresh, old);
    updateTotals(fresh);
    if (focusHref) {
      var target = fresh.querySelector('a[href="' + focusHref.replace(/"/g, "") + '"]');
      if (target) {
        target.focus({ preventScroll: true });
      }
    }
    window.scrollTo(x, y);
    if (added > 0) {
      live.textContent = added === 1 ? "1 new tip" : added + " new tips";
    }
  }

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    Promise.all([fetchFragment("rows"), fetchFragment("alerts")])
      .then(function (answers) {
        if (answers[0] !== null) {
          swap(answers[0]);
        }
        swapAlerts(answers[1]);
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  var source = new EventSource("/dashboard/events");
  source.addEventListener("queue", function (event) {
    // The first event after (re)connecting carries the current stamp: fetch only if it
    // differs from what this page shows.
    if (event.data !== stamp) {
      stamp = event.data;
      refresh();
    }
  });
  // EventSource reconnects by itself after an error (the server sends retry: 3000).

  window.setInterval(function () {
    if (!busy) {
      fetchFragment("alerts").then(swapAlerts).catch(function () { /* next time */ });
    }
  }, ALERTS_EVERY_MS);
})();
