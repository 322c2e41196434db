// Injected by tools/check_render.py into a copy of a built page: once MathJax has typeset the page,
// measure every display equation, code/output block, table and figure of the article against the
// article's text column, and write the result as JSON into <pre id="__render_measure">.
(function () {
  "use strict";
  function box(el) {
    const r = el.getBoundingClientRect();
    return { left: r.left, right: r.right, width: r.width, top: r.top, bottom: r.bottom };
  }
  function label(el) {
    const id = el.id || (el.closest("[id]") || {}).id || "";
    const text = (el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 60);
    return (id ? "#" + id + " " : "") + JSON.stringify(text);
  }
  function measure() {
    const art = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
    const col = box(art);
    const cs = getComputedStyle(art);
    const colLeft = col.left + parseFloat(cs.paddingLeft), colRight = col.right - parseFloat(cs.paddingRight);
    const out = { viewport: window.innerWidth, column: Math.round(colRight - colLeft),
                  page_scroll: document.documentElement.scrollWidth - window.innerWidth,
                  equations: [], code: [], tables: [], figures: [], search_boxes: 0 };
    const tol = 1;
    // display equations: the typeset formula must end inside the column and not run under its number
    art.querySelectorAll("div.math").forEach(function (div) {
      const mjx = div.querySelector("mjx-container");
      if (!mjx) { out.equations.push({ what: label(div), typeset: false }); return; }
      const math = mjx.querySelector("mjx-math") || mjx;
      const m = box(math), eqno = div.querySelector(".eqno");
      const e = eqno ? box(eqno) : null;
      // formula wider than the visible box of its container (hidden or scrolled part)
      const hidden = Math.max(0, mjx.scrollWidth - mjx.clientWidth, div.scrollWidth - div.clientWidth);
      const over = Math.max(0, m.right - colRight, colLeft - m.left, hidden);
      const beside = e && e.width > 0 && e.top < m.bottom && e.bottom > m.top;  // number on the formula's line
      const under = beside ? Math.max(0, m.right - e.left) : 0;
      out.equations.push({ what: label(div), width: Math.round(m.width), overflow: Math.round(over),
                           under_number: Math.round(under), scale: parseFloat(mjx.dataset.fitScale || "1") });
    });
    // code cells, outputs and literal blocks: no sideways scrolling, nothing past the column
    art.querySelectorAll("pre").forEach(function (pre) {
      const b = box(pre);
      const over = Math.max(0, pre.scrollWidth - pre.clientWidth, b.right - colRight);
      const kind = pre.closest(".cell_output") ? "output" : pre.closest(".cell_input") ? "input" : "literal";
      out.code.push({ what: label(pre), kind: kind, overflow: Math.round(over) });
    });
    // tables (rendered HTML tables: markdown, pandas, docutils)
    art.querySelectorAll("table").forEach(function (t) {
      const b = box(t);
      let over = Math.max(0, b.right - colRight);
      // its scrolling wrapper (pydata's .pst-scrollable-table-container), if any
      for (let p = t.parentElement; p && p !== art && !p.matches("section"); p = p.parentElement) {
        if (getComputedStyle(p).overflowX !== "visible") over = Math.max(over, p.scrollWidth - p.clientWidth);
      }
      out.tables.push({ what: label(t), overflow: Math.round(over) });
    });
    // figures: displayed width against natural width (the scale applied to the figure's text)
    art.querySelectorAll("img").forEach(function (img) {
      const b = box(img);
      out.figures.push({ src: img.getAttribute("src"), natural: img.naturalWidth, shown: Math.round(b.width * 10) / 10,
                         overflow: Math.round(Math.max(0, b.right - colRight)), loaded: img.complete && img.naturalWidth > 0,
                         linked: !!img.closest("a[href]") });
    });
    // anything else that sticks out of the column (the deepest such elements)
    out.sticking_out = [];
    art.querySelectorAll("*").forEach(function (el) {
      const b = box(el);
      if (b.width > 0 && b.right > colRight + tol && !Array.from(el.children).some(function (c) { return box(c).right > colRight + tol; })
          && !el.closest("mjx-container, .eqno") && out.sticking_out.length < 5) {
        out.sticking_out.push({ what: el.tagName.toLowerCase() + "." + (el.className || "") + " " + label(el),
                                overflow: Math.round(b.right - colRight) });
      }
    });
    // visible search fields in the page header (the duplicate search box)
    document.querySelectorAll(".search-button-field, input[type=search]")
      .forEach(function (el) { if (el.offsetParent !== null && box(el).width > 0) out.search_boxes += 1; });
    const pre = document.createElement("pre");
    pre.id = "__render_measure";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
    if (window.parent !== window) window.parent.postMessage(pre.textContent, "*");
  }
  function whenReady() {
    const mj = window.MathJax;
    const typeset = mj && mj.startup && mj.startup.promise ? mj.startup.promise : Promise.resolve();
    const images = Array.from(document.images).map(function (img) {
      return img.complete ? Promise.resolve() : new Promise(function (r) { img.onload = img.onerror = r; });
    });
    Promise.all([typeset].concat(images)).then(function () { setTimeout(measure, 300); });
  }
  if (document.readyState === "complete") whenReady(); else window.addEventListener("load", whenReady);
})();
