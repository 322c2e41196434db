// Pages that fit the screen (see course.css; checked by tools/check_render.py).
(function () {
  "use strict";
  var FLOOR = 0.6;  // never scale a formula below 60 %; wider ones must be broken into lines in the source
  // Scale every display formula that is wider than the space beside its number down to that space.
  function fitMath() {
    document.querySelectorAll("div.math > mjx-container[display='true']").forEach(function (mjx) {
      mjx.style.fontSize = "";
      var math = mjx.querySelector("mjx-math");
      if (!math) return;
      var natural = math.getBoundingClientRect().width, room = mjx.clientWidth;
      var scale = natural > room && natural > 0 ? Math.max(FLOOR, Math.floor(room / natural * 1000) / 1000) : 1;
      if (scale < 1) mjx.style.fontSize = (100 * scale) + "%";
      mjx.dataset.fitScale = String(scale);
    });
  }
  // Each figure opens its full-size image: on a phone the figure is shrunk to the screen's width.
  function linkFigures() {
    document.querySelectorAll(".bd-article .cell_output img").forEach(function (img) {
      if (img.closest("a")) return;
      var a = document.createElement("a");
      a.href = img.getAttribute("src");
      a.title = "Open the figure at full size";
      img.parentNode.insertBefore(a, img);
      a.appendChild(img);
    });
  }
  // On a phone, tables wider than their column are shown one card per row (course.css, table.stacked).
  function stackTables() {
    var narrow = window.matchMedia("(max-width: 600px)").matches;
    document.querySelectorAll(".bd-article table").forEach(function (t) {
      var heads = Array.from(t.querySelectorAll("thead th")).map(function (th) { return th.textContent.trim(); });
      t.querySelectorAll("tbody tr").forEach(function (tr) {
        Array.from(tr.children).forEach(function (td, i) { if (heads[i]) td.setAttribute("data-label", heads[i]); });
      });
      t.classList.remove("stacked");
      var box = t.parentElement;
      if (narrow && heads.length > 1 && (t.scrollWidth > box.clientWidth + 1 || t.getBoundingClientRect().width > box.clientWidth + 1)) {
        t.classList.add("stacked");
      }
    });
  }
  // A table still wider than its column (unbreakable formulas in its cells) gets a smaller font, down to 70 %.
  function fitTables() {
    document.querySelectorAll(".bd-article table:not(.stacked)").forEach(function (t) {
      t.style.fontSize = "";
      var room = t.parentElement.clientWidth, base = parseFloat(getComputedStyle(t).fontSize), scale = 1;
      for (var i = 0; i < 4 && t.scrollWidth > room + 1 && scale > 0.7; i++) {
        scale = Math.max(0.7, scale * (room - 4) / t.scrollWidth);
        t.style.fontSize = (base * scale) + "px";
      }
      t.dataset.fitScale = String(Math.round(scale * 1000) / 1000);
    });
  }
  function start() {
    linkFigures();
    stackTables();
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) mj.startup.promise.then(function () { stackTables(); fitTables(); fitMath(); });
    var t;
    window.addEventListener("resize", function () { clearTimeout(t); t = setTimeout(function () { stackTables(); fitTables(); fitMath(); }, 150); });
  }
  // after the load event: MathJax is loaded asynchronously, and typesets after that
  if (document.readyState === "complete") start(); else window.addEventListener("load", start);
})();
