// Live updates for the directory: when the node hears of new entries (server-sent
// events from /network/live), fetch the list again and put it in place. Our own
// few lines; no library. Without JavaScript the page works as before (reload it).
(function () {
  "use strict";
  var region = document.querySelector("[data-live-src]");
  if (!region || !window.EventSource || !window.fetch) { return; }
  var status = document.getElementById("live-status");
  var waiting = null;
  function say(text) { if (status) { status.textContent = text; } }
  function refresh() {
    waiting = null;
    fetch(region.getAttribute("data-live-src"), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        region.innerHTML = html;
        say("Updated at " + new Date().toLocaleTimeString() + ": new entries arrived.");
      })
      .catch(function () { say("Could not refresh the list; reload the page to see new entries."); });
  }
  var source = new EventSource("/network/live");
  source.addEventListener("entries", function () {
    if (waiting === null) { waiting = window.setTimeout(refresh, 250); }
  });
  source.addEventListener("open", function () { say("This list updates by itself when new entries arrive."); });
  source.addEventListener("error", function () { say("Live updates paused; trying again…"); });
}());
