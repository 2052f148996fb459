// The live queue: when the server says the queue changed, fetch its rows again and swap
// them in, keeping focus and scroll, and say how many tips are new. Without JavaScript
// the page is whole; the Refresh link reloads it.
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

  function fragmentUrl() {
    var url = new URL(pageUrl, window.location.href);
    url.searchParams.set("fragment", "rows");
    return url.toString();
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
    fetch(fragmentUrl(), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        var type = response.headers.get("content-type") || "";
        if (response.ok && !response.redirected && type.indexOf("text/html") === 0) {
          return response.text().then(swap);
        }
        return null;
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
})();
