// A short sound when a new critical page appears in the queue's alert block.
//
// The sound is made here, with WebAudio oscillators: no audio file, nothing fetched.
// Browsers let a page play sound only after the person has interacted with it, so the
// notice asks for one click anywhere; alerts that arrived before that click sound then.
// "Mute alert sound" is remembered in localStorage, per browser. Alerts already heard are
// remembered in sessionStorage, so a reload (or the redirect after an acknowledgement)
// does not sound them again. Without JavaScript the alert block is still on the page.
(function () {
  "use strict";
  var notice = document.getElementById("alert-sound");
  var state = document.getElementById("alert-sound-state");
  var mute = document.getElementById("alert-mute");
  var Context = window.AudioContext || window.webkitAudioContext;
  if (!notice || !state || !mute || !Context) {
    return;
  }
  var MUTE_KEY = "hotline.alerts.muted";
  var HEARD_KEY = "hotline.alerts.heard";
  var audio = null;
  var pending = false;

  function load(storage, key) {
    try {
      return storage.getItem(key);
    } catch (error) {
      return null;  // storage disabled: behave as if nothing was kept
    }
  }

  function save(storage, key, value) {
    try {
      storage.setItem(key, value);
    } catch (error) { /* storage disabled or full: only this page remembers */ }
  }

  function muted() {
    return load(window.localStorage, MUTE_KEY) === "1";
  }

  function heard() {
    var text = load(window.sessionStorage, HEARD_KEY);
    return text ? text.split(",") : [];
  }

  function describe() {
    mute.setAttribute("aria-pressed", muted() ? "true" : "false");
    mute.textContent = muted() ? "Unmute alert sound" : "Mute alert sound";
    if (muted()) {
      state.textContent = "Sound for new critical alerts is muted.";
    } else if (audio) {
      state.textContent = "Sound is on for new critical alerts.";
    } else {
      state.textContent = "Click anywhere on the page to enable sound for new critical alerts.";
    }
  }

  function criticalIds() {
    var block = document.getElementById("queue-alerts");
    var text = block ? block.getAttribute("data-critical") || "" : "";
    return text ? text.split(",") : [];
  }

  function beep() {
    // Three short tones, falling: about two thirds of a second.
    var start = audio.currentTime + 0.02;
    var tones = [988, 880, 988];
    for (var i = 0; i < tones.length; i++) {
      var at = start + i * 0.22;
      var oscillator = audio.createOscillator();
      var gain = audio.createGain();
      oscillator.type = "square";
      oscillator.frequency.setValueAtTime(tones[i], at);
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.18);
      oscillator.connect(gain);
      gain.connect(audio.destination);
      oscillator.start(at);
      oscillator.stop(at + 0.2);
    }
  }

  // Sound once for any critical alert not heard before in this tab.
  function check() {
    var known = heard();
    var ids = criticalIds();
    var fresh = false;
    for (var i = 0; i < ids.length; i++) {
      if (known.indexOf(ids[i]) === -1) {
        fresh = true;
      }
    }
    if (!fresh) {
      return;
    }
    if (!audio) {
      pending = true;  // sounds after the first interaction
      return;
    }
    // Keep only the alerts still shown, so the list stays short.
    save(window.sessionStorage, HEARD_KEY, ids.join(","));
    pending = false;
    if (!muted()) {
      beep();
    }
  }

  function unlock() {
    if (audio) {
      return;
    }
    try {
      audio = new Context();
    } catch (error) {
      return;
    }
    if (audio.state === "suspended") {
      audio.resume();
    }
    document.removeEventListener("pointerdown", unlock, true);
    document.removeEventListener("keydown", unlock, true);
    describe();
    if (pending) {
      check();
    }
  }

  mute.addEventListener("click", function () {
    save(window.localStorage, MUTE_KEY, muted() ? "0" : "1");
    describe();
  });
  document.addEventListener("pointerdown", unlock, true);
  document.addEventListener("keydown", unlock, true);
  document.addEventListener("hotline:alerts", check);
  notice.hidden = false;
  describe();
  check();
})();
