/* Gallery index: client-side filters and hover previews. No dependencies; without this script
   every card is still listed and is a plain link. */
(function () {
  "use strict";

  var reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  /* Card thumbnails play the animation (WebP, else GIF) while hovered or focused, except for reduced motion. */
  function setUpPreviews() {
    var cards = document.querySelectorAll(".card");
    Array.prototype.forEach.call(cards, function (card) {
      var image = card.querySelector("img[data-animated-src]");
      if (!image) return;
      var still = image.getAttribute("src");
      var animated = image.getAttribute("data-animated-src");
      function play() {
        if (!reducedMotion.matches && image.getAttribute("src") !== animated) {
          image.setAttribute("src", animated);
          card.classList.add("card--playing");
        }
      }
      function stop() {
        if (image.getAttribute("src") !== still) {
          image.setAttribute("src", still);
          card.classList.remove("card--playing");
        }
      }
      card.addEventListener("mouseenter", play);
      card.addEventListener("mouseleave", stop);
      card.addEventListener("focusin", play);
      card.addEventListener("focusout", stop);
    });
  }

  function setUpFilters() {
    var form = document.getElementById("filters");
    var gallery = document.getElementById("gallery");
    if (!form || !gallery) return;
    var collection = document.getElementById("filter-collection");
    var region = document.getElementById("filter-region");
    var text = document.getElementById("filter-text");
    var count = document.getElementById("filter-count");
    var empty = document.getElementById("filter-empty");
    var cards = gallery.querySelectorAll(".card");

    function apply() {
      var wantedCollection = collection.value;
      var wantedRegion = region.value;
      var words = text.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      Array.prototype.forEach.call(cards, function (card) {
        var haystack = card.getAttribute("data-search") || "";
        var match =
          (!wantedCollection || card.getAttribute("data-collection") === wantedCollection) &&
          (!wantedRegion || card.getAttribute("data-region") === wantedRegion) &&
          words.every(function (word) { return haystack.indexOf(word) !== -1; });
        card.hidden = !match;
        if (match) shown += 1;
      });
      count.textContent = shown === cards.length
        ? cards.length + " animations"
        : shown + " of " + cards.length + " animations";
      if (empty) empty.hidden = shown !== 0;
    }

    form.addEventListener("input", apply);
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    form.hidden = false;
    apply();
  }

  setUpPreviews();
  setUpFilters();
})();
