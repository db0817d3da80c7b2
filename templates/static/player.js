/* Animation page player: steps through the frame PNGs with play/pause, previous/next, a
   scrubber showing each frame's date, speed control and keyboard shortcuts. Starts paused
   when the system asks for reduced motion. Without this script the page shows the GIF (in a
   <noscript>, so that a browser running this script never downloads it). */
(function () {
  "use strict";

  var player = document.getElementById("player");
  if (!player || !player.hasAttribute("data-frames")) return;
  var frames;
  try {
    frames = JSON.parse(player.getAttribute("data-frames"));
  } catch (error) {
    return;
  }
  if (!frames.length) return;

  var image = document.getElementById("player-image");
  var controls = document.getElementById("player-controls");
  var playButton = document.getElementById("player-play");
  var prevButton = document.getElementById("player-prev");
  var nextButton = document.getElementById("player-next");
  var scrubber = document.getElementById("player-scrubber");
  var dateOutput = document.getElementById("player-date");
  var counter = document.getElementById("player-counter");
  var speed = document.getElementById("player-speed");
  var baseAlt = player.getAttribute("data-alt") || image.alt;
  var frameMs = parseInt(player.getAttribute("data-frame-ms"), 10) || 500;
  var reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  var index = 0;
  var timer = null;
  var preloaded = {};

  function preload(position) {
    var frame = frames[(position + frames.length) % frames.length];
    if (preloaded[frame.src]) return;
    var loader = new Image();
    loader.src = frame.src;
    preloaded[frame.src] = loader;
  }

  function show(position) {
    index = (position + frames.length) % frames.length;
    var frame = frames[index];
    image.src = frame.src;
    image.alt = baseAlt + " — frame " + (index + 1) + ", " + frame.label;
    scrubber.value = String(index);
    scrubber.setAttribute("aria-valuetext", frame.label);
    dateOutput.textContent = frame.label;
    counter.textContent = (index + 1) + " / " + frames.length;
    player.setAttribute("data-index", String(index));
    markChart(index);
    preload(index + 1);
  }

  /* The statistics chart under the player: its cursor and current point follow the frame shown,
     and a point (a link to its frame's row) seeks the player instead of scrolling. */
  var chart = document.getElementById("stats-chart");
  var cursor = document.getElementById("stats-chart-cursor");
  var points = chart ? chart.querySelectorAll(".stats-chart__point") : [];
  var statsRows = document.querySelectorAll(".stats__row");

  function markChart(position) {
    if (!chart) return;
    var x = parseFloat(chart.getAttribute("data-x0")) + position * parseFloat(chart.getAttribute("data-step"));
    if (cursor) {
      cursor.setAttribute("x1", String(x));
      cursor.setAttribute("x2", String(x));
    }
    chart.setAttribute("data-index", String(position));
    Array.prototype.forEach.call(points, function (point) {
      var current = point.getAttribute("data-index") === String(position);
      point.classList.toggle("stats-chart__point--current", current);
      if (current) point.setAttribute("aria-current", "true");
      else point.removeAttribute("aria-current");
    });
    Array.prototype.forEach.call(statsRows, function (row) {
      row.classList.toggle("stats__row--current", row.getAttribute("data-index") === String(position));
    });
  }

  Array.prototype.forEach.call(points, function (point) {
    point.addEventListener("click", function (event) {
      event.preventDefault();
      setPlaying(false);
      show(parseInt(point.getAttribute("data-index"), 10));
    });
  });

  /* The table of numbers stays in the page for screen readers; sighted readers open it. */
  var statsToggle = document.getElementById("stats-toggle");
  var statsNumbers = document.getElementById("stats-numbers");
  if (statsToggle && statsNumbers) {
    var setOpen = function (open) {
      statsNumbers.classList.toggle("stats__numbers--collapsed", !open);
      statsToggle.setAttribute("aria-expanded", open ? "true" : "false");
      statsToggle.textContent = open ? "Hide the table" : "Show the table";
    };
    statsToggle.addEventListener("click", function () {
      setOpen(statsToggle.getAttribute("aria-expanded") !== "true");
    });
    statsToggle.hidden = false;
    setOpen(false);
  }

  function delay() {
    return frameMs / parseFloat(speed.value || "1");
  }

  function tick() {
    show(index + 1);
    timer = window.setTimeout(tick, delay());
  }

  function setPlaying(playing) {
    window.clearTimeout(timer);
    timer = null;
    if (playing) timer = window.setTimeout(tick, delay());
    player.setAttribute("data-playing", playing ? "true" : "false");
    playButton.setAttribute("aria-label", playing ? "Pause" : "Play");
    playButton.setAttribute("aria-pressed", playing ? "true" : "false");
  }

  function isPlaying() {
    return timer !== null;
  }

  function step(delta) {
    setPlaying(false);
    show(index + delta);
  }

  playButton.addEventListener("click", function () { setPlaying(!isPlaying()); });
  prevButton.addEventListener("click", function () { step(-1); });
  nextButton.addEventListener("click", function () { step(1); });
  scrubber.addEventListener("input", function () {
    setPlaying(false);
    show(parseInt(scrubber.value, 10));
  });
  speed.addEventListener("change", function () {
    if (isPlaying()) setPlaying(true);
  });

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var target = event.target;
    var tag = target && target.tagName;
    // Form fields keep their own keys (the scrubber moves with arrows natively).
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    var handled = true;
    if (event.key === " " || event.key === "k") {
      if (tag === "BUTTON" && event.key === " ") return;
      setPlaying(!isPlaying());
    } else if (event.key === "ArrowLeft" || event.key === "j") {
      step(-1);
    } else if (event.key === "ArrowRight" || event.key === "l") {
      step(1);
    } else if (event.key === "Home") {
      step(-index);
    } else if (event.key === "End") {
      step(frames.length - 1 - index);
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  });

  /* Native size, or a whole number of device pixels per frame pixel with crisp edges when there
     is room (and the frame still fits the window's height); narrower than the frame: fit the
     column (a downscale, smooth). data-scale says which: "1", "2"… or "fit". */
  var frameWidth = parseInt(image.getAttribute("width"), 10) || 0;
  var frameHeight = parseInt(image.getAttribute("height"), 10) || 0;

  function fit() {
    var width = frameWidth || image.naturalWidth;
    var height = frameHeight || image.naturalHeight;
    if (!width || !height) return;
    var ratio = window.devicePixelRatio || 1;
    var room = image.parentNode.clientWidth * ratio;
    var tall = Math.max(window.innerHeight * 0.9 * ratio, height);
    var factor = Math.min(Math.floor(room / width), Math.floor(tall / height));
    if (factor >= 1) {
      image.style.width = (width * factor / ratio) + "px";
      image.style.height = (height * factor / ratio) + "px";
      image.classList.toggle("player__image--pixelated", factor > 1);
      player.setAttribute("data-scale", String(factor));
    } else {
      image.style.width = "";
      image.style.height = "";
      image.classList.remove("player__image--pixelated");
      player.setAttribute("data-scale", "fit");
    }
  }

  window.addEventListener("resize", fit);
  if (!frameWidth) image.addEventListener("load", fit);
  fit();

  controls.hidden = false;
  player.classList.add("player--interactive");
  show(0);
  setPlaying(!reducedMotion);
})();
