// Language switch of the course (issue 16, owner: zh): "English | 中文" on every page of both editions.
// The English book is _build/html/, the Chinese one _build/html/zh_CN/, with the same page names, so the
// other edition's page is found from this page's path relative to its edition's root (Sphinx writes
// that root as <html data-content_root="...">). Works from a web server and from file://.
(function () {
  "use strict";
  var ZH = "zh_CN";
  function setup() {
    if (document.getElementById("gae-lang-switch")) return;
    var lang = (window.DOCUMENTATION_OPTIONS && DOCUMENTATION_OPTIONS.LANGUAGE) || document.documentElement.lang || "en";
    var isZh = /^zh/i.test(lang);
    var rootAttr = document.documentElement.dataset.content_root || "./";
    var root = new URL(rootAttr, window.location.href).href;      // this edition's root, ending in "/"
    var here = window.location.href.split("#")[0].split("?")[0];
    var page = here.indexOf(root) === 0 ? here.slice(root.length) : "index.html";
    if (page === "") page = "index.html";
    var other = isZh ? new URL("../" + page, root).href : new URL(ZH + "/" + page, root).href;

    var box = document.createElement("div");
    box.id = "gae-lang-switch";
    box.className = "gae-lang-switch";
    box.setAttribute("role", "navigation");
    box.setAttribute("aria-label", isZh ? "语言" : "Language");
    function item(text, hreflang, href, current) {
      var el = document.createElement(current ? "strong" : "a");
      el.textContent = text;
      el.setAttribute("lang", hreflang);
      if (!current) { el.href = href + window.location.hash; el.setAttribute("hreflang", hreflang); }
      else { el.setAttribute("aria-current", "true"); }
      return el;
    }
    box.appendChild(item("English", "en", other, !isZh));
    box.appendChild(document.createTextNode(" | "));
    box.appendChild(item("中文", "zh-CN", other, isZh));
    box.style.cssText = "padding:0.3rem 0.5rem;font-size:0.9rem;";

    // Top of the left sidebar (under the book's title) when there is one, else top of the article.
    var host = document.querySelector(".bd-sidebar-primary .sidebar-primary-items__start") ||
               document.querySelector(".bd-sidebar-primary") ||
               document.querySelector("article.bd-article") || document.body;
    host.insertBefore(box, host.firstChild);
    // A second copy in the article header, visible when the sidebar is collapsed (narrow screens).
    var header = document.querySelector(".bd-header-article .header-article-items__start");
    if (header) {
      var copy = box.cloneNode(true);
      copy.id = "gae-lang-switch-header";
      header.appendChild(copy);
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
