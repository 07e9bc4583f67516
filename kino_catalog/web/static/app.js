// kino-catalog gallery: load more, facets, keyboard, the frame overlay and edits.
// Plain JavaScript, no build step. Everything shown from the server's JSON is put in
// the page with textContent (never innerHTML); HTML fragments come from the server,
// escaped there. Exact numbers (seeds) are rendered by the server, never re-computed.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const text = await response.text();
    let data = null;
    try { data = JSON.parse(text); } catch (e) { data = null; }
    return { ok: response.ok, status: response.status, text: text, data: data };
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  async function copyText(text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) { // not a secure context (served off localhost over http)
      const area = el("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1200);
  }

  // ------------------------------------------------------------ the frame view
  function initFrameView(view) {
    const id = view.dataset.id;
    const count = parseInt(view.dataset.count || "1", 10);
    const image = view.querySelector(".frame-image");
    const status = view.querySelector(".edit-status");
    let timer = null;

    if (image && count > 1) { // a PNG sequence plays its frames
      const position = view.querySelector(".seq-pos");
      const button = view.querySelector(".play");
      const frames = [];
      for (let n = 0; n < count; n++) { // preload, so playback does not flicker
        const img = new Image();
        img.src = "/api/frames/" + id + "/image?n=" + n;
        frames.push(img.src);
      }
      let n = 0;
      const step = function () {
        n = (n + 1) % count;
        image.src = frames[n];
        position.textContent = (n + 1) + " / " + count;
      };
      timer = setInterval(step, 125);
      button.addEventListener("click", function () {
        if (timer) { clearInterval(timer); timer = null; button.textContent = "Play"; }
        else { timer = setInterval(step, 125); button.textContent = "Pause"; }
        button.setAttribute("aria-pressed", timer ? "true" : "false");
      });
      view.stopPlayer = function () { if (timer) clearInterval(timer); };
    }

    async function edit(path, body) {
      status.textContent = "Saving…";
      const answer = await post("/api/frames/" + id + "/" + path, body);
      if (!answer.ok) {
        status.textContent = (answer.data && answer.data.message) || ("Error " + answer.status);
        return;
      }
      await reloadView(view, "Saved to the sidecar.");
    }

    view.querySelectorAll(".rate").forEach(function (button) {
      button.addEventListener("click", function () {
        const value = button.dataset.rating;
        edit("rating", { rating: value === "" ? null : parseInt(value, 10) });
      });
    });
    view.querySelectorAll(".untag").forEach(function (button) {
      button.addEventListener("click", function () { edit("tags", { remove: [button.dataset.tag] }); });
    });
    const tagForm = view.querySelector(".tag-form");
    if (tagForm) {
      tagForm.addEventListener("submit", function (event) {
        event.preventDefault();
        const tag = tagForm.elements.tag.value.trim();
        if (tag) edit("tags", { add: [tag] });
      });
    }
    const notesForm = view.querySelector(".notes-form");
    notesForm.addEventListener("submit", function (event) {
      event.preventDefault();
      edit("notes", { notes: notesForm.elements.notes.value });
    });

    const request = view.querySelector(".request");
    view.querySelector(".copy-request").addEventListener("click", function (event) {
      copyText(request.textContent, event.currentTarget);
    });
    const form = view.querySelector(".regen-form");
    const regenStatus = view.querySelector(".regen-status");
    function edits() {
      const lines = function (name) {
        return form.elements[name].value.split("\n").map(function (l) { return l.trim(); })
          .filter(function (l) { return l; });
      };
      const pairs = function (name) {
        const found = {};
        for (const line of lines(name)) {
          const at = line.indexOf("=");
          if (at > 0) found[line.slice(0, at).trim()] = line.slice(at + 1);
          else throw new Error(name.replace("_", "-") + " " + line + ": expected NAME=VALUE");
        }
        return found;
      };
      return {
        set: pairs("set"),
        set_lora: pairs("set_lora"),
        drop_lora: lines("drop_lora"),
        allow_new_keys: form.elements.allow_new_keys.checked,
      };
    }
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      let body;
      try { body = edits(); } catch (e) { regenStatus.textContent = e.message; return; }
      const answer = await post("/api/frames/" + id + "/regen?pretty=1", body);
      if (answer.ok) {
        request.textContent = answer.text; // the server's exact JSON, big seeds intact
        regenStatus.textContent = "Request with your changes (Copy request copies it).";
      } else {
        regenStatus.textContent = (answer.data && answer.data.message) || ("Error " + answer.status);
      }
    });
    const send = view.querySelector(".send");
    if (send) {
      send.addEventListener("click", async function () {
        let body;
        try { body = edits(); } catch (e) { regenStatus.textContent = e.message; return; }
        regenStatus.textContent = "Sending to Kino…";
        const answer = await post("/api/frames/" + id + "/submit", body);
        regenStatus.textContent = answer.ok
          ? "Kino started task " + answer.data.task_ids.join(", ") + "."
          : (answer.data && answer.data.message) || ("Error " + answer.status);
      });
    }
  }

  async function reloadView(view, message) {
    const response = await fetch("/frames/" + view.dataset.id + "?partial=1", { credentials: "same-origin" });
    const holder = el("div");
    holder.innerHTML = await response.text(); // server-rendered and escaped
    const fresh = holder.querySelector(".frame-view");
    if (view.stopPlayer) view.stopPlayer();
    view.replaceWith(fresh);
    initFrameView(fresh);
    const status = fresh.querySelector(".edit-status");
    if (status && message) status.textContent = message;
    return fresh;
  }

  // ------------------------------------------------------------ the gallery
  function initGallery(grid) {
    const q = grid.dataset.q;
    const sort = grid.dataset.sort;
    const more = document.getElementById("more");
    const overlay = document.getElementById("overlay");
    const overlayBody = document.getElementById("overlay-body");
    let openId = null;
    let loading = null;

    fetch("/api/count?q=" + encodeURIComponent(q)).then(function (r) { return r.json(); })
      .then(function (data) {
        const n = data.count;
        document.getElementById("count").textContent = n.toLocaleString("en") + (n === 1 ? " frame" : " frames");
      });
    loadFacets(q);

    function tiles() { return Array.from(grid.querySelectorAll(".tile")); }

    function addTile(frame) {
      const link = el("a", { class: "tile", href: "/frames/" + frame.id, "data-id": String(frame.id) });
      const version = encodeURIComponent(frame.generated_at + "-" + frame.image_count);
      link.appendChild(el("img", {
        src: "/api/frames/" + frame.id + "/thumb?size=" + grid.dataset.thumbSize + "&v=" + version,
        alt: "frame " + frame.id, loading: "lazy", decoding: "async",
      }));
      link.appendChild(el("span", { class: "cap" }, typeof frame.prompt === "string" ? frame.prompt : ""));
      if (frame.image_count > 1) link.appendChild(el("span", { class: "badge" }, frame.image_count + " frames"));
      const item = el("li");
      item.appendChild(link);
      grid.appendChild(item);
    }

    function loadMore() {
      if (loading || !more.dataset.cursor) return loading || Promise.resolve();
      more.disabled = true;
      const url = "/api/search?count=0&limit=50&q=" + encodeURIComponent(q) + "&sort=" + encodeURIComponent(sort) +
        "&cursor=" + encodeURIComponent(more.dataset.cursor);
      loading = fetch(url).then(function (r) { return r.json(); }).then(function (page) {
        page.frames.forEach(addTile);
        more.dataset.cursor = page.next_cursor || "";
        more.hidden = !page.next_cursor;
        more.disabled = false;
        loading = null;
        remember();
      });
      return loading;
    }
    more.addEventListener("click", loadMore);
    if ("IntersectionObserver" in window) {
      new IntersectionObserver(function (entries) {
        if (entries.some(function (e) { return e.isIntersecting; })) loadMore();
      }, { rootMargin: "400px" }).observe(more);
    }

    // The URL keeps how many frames are shown and which one is at the top, so a
    // reload or the back button comes back to the same place.
    let pending = null;
    function remember() {
      if (pending) return;
      pending = setTimeout(function () {
        pending = null;
        const url = new URL(location.href);
        url.searchParams.set("shown", String(tiles().length));
        const top = tiles().find(function (t) { return t.getBoundingClientRect().bottom > 60; });
        if (top && window.scrollY > 0) url.searchParams.set("at", top.dataset.id);
        else url.searchParams.delete("at");
        history.replaceState(history.state, "", url);
      }, 250);
    }
    window.addEventListener("scroll", remember, { passive: true });
    const at = new URL(location.href).searchParams.get("at");
    if (at) {
      const target = grid.querySelector('.tile[data-id="' + CSS.escape(at) + '"]');
      if (target) target.scrollIntoView({ block: "start" });
    }

    // ---- the overlay
    async function open(id, push) {
      const response = await fetch("/frames/" + id + "?partial=1", { credentials: "same-origin" });
      closeView();
      overlayBody.innerHTML = await response.text(); // server-rendered and escaped
      const view = overlayBody.querySelector(".frame-view");
      if (view) initFrameView(view);
      overlay.hidden = false;
      document.body.classList.add("has-overlay");
      openId = String(id);
      if (push) {
        const url = new URL(location.href);
        url.searchParams.set("frame", openId);
        history.pushState({ frame: openId }, "", url);
      }
      overlay.querySelector(".overlay-close").focus();
    }
    function closeView() {
      const view = overlayBody.querySelector(".frame-view");
      if (view && view.stopPlayer) view.stopPlayer();
    }
    function close(fromHistory) {
      if (openId === null) return;
      closeView();
      overlay.hidden = true;
      overlayBody.textContent = "";
      document.body.classList.remove("has-overlay");
      const tile = grid.querySelector('.tile[data-id="' + CSS.escape(openId) + '"]');
      openId = null;
      if (tile) tile.focus();
      if (!fromHistory) {
        const url = new URL(location.href);
        url.searchParams.delete("frame");
        if (history.state && history.state.frame) history.back();
        else history.replaceState(null, "", url);
      }
    }
    async function neighbour(delta) {
      let list = tiles();
      let index = list.findIndex(function (t) { return t.dataset.id === openId; });
      if (delta > 0 && index === list.length - 1 && more.dataset.cursor) {
        await loadMore();
        list = tiles();
      }
      const next = list[index + delta];
      if (!next) return;
      await open(next.dataset.id, false);
      const url = new URL(location.href);
      url.searchParams.set("frame", openId);
      history.replaceState({ frame: openId }, "", url);
      next.scrollIntoView({ block: "nearest" });
    }
    grid.addEventListener("click", function (event) {
      const tile = event.target.closest(".tile");
      if (!tile || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      open(tile.dataset.id, true);
    });
    overlay.querySelector(".overlay-close").addEventListener("click", function () { close(false); });
    overlay.addEventListener("click", function (event) { if (event.target === overlay) close(false); });
    window.addEventListener("popstate", function (event) {
      const id = event.state && event.state.frame;
      if (id) open(id, false);
      else close(true);
    });
    const initial = new URL(location.href).searchParams.get("frame");
    if (initial) open(initial, false);

    // ---- the keyboard: arrows move, Enter opens, Esc closes
    function columns(list) {
      if (list.length < 2) return 1;
      const top = list[0].getBoundingClientRect().top;
      const n = list.findIndex(function (t) { return t.getBoundingClientRect().top > top + 2; });
      return n === -1 ? list.length : n;
    }
    document.addEventListener("keydown", function (event) {
      const typing = event.target.closest("input, textarea, select");
      if (event.key === "Escape") {
        if (openId !== null) { event.preventDefault(); close(false); }
        return;
      }
      if (typing || event.altKey || event.ctrlKey || event.metaKey) return;
      if (openId !== null) {
        if (event.key === "ArrowRight") { event.preventDefault(); neighbour(1); }
        if (event.key === "ArrowLeft") { event.preventDefault(); neighbour(-1); }
        return;
      }
      const list = tiles();
      if (!list.length) return;
      let index = list.indexOf(document.activeElement);
      const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(list), ArrowUp: -columns(list) }[event.key];
      if (step === undefined) return;
      event.preventDefault();
      index = index === -1 ? 0 : Math.min(Math.max(index + step, 0), list.length - 1);
      list[index].focus();
      list[index].scrollIntoView({ block: "nearest" });
      if (index >= list.length - columns(list)) loadMore();
    });
  }

  // ------------------------------------------------------------ facets
  const FACET_TITLES = { loras: "LoRAs", models: "Models", projects: "Projects", samplers: "Samplers" };

  function withTerm(q, term) {
    const base = q.trim();
    if (!base) return term;
    return (/\bOR\b/.test(base) ? "(" + base + ")" : base) + " " + term;
  }

  async function loadFacets(q) {
    const box = document.getElementById("facets");
    const response = await fetch("/api/facets?q=" + encodeURIComponent(q));
    if (!response.ok) { box.textContent = ""; return; }
    const data = await response.json();
    box.textContent = "";
    const sort = document.getElementById("sort").value;
    for (const [name, values] of Object.entries(data.facets)) {
      if (!values.length) continue;
      const section = el("section", { class: "facet", "data-facet": name });
      section.appendChild(el("h3", {}, FACET_TITLES[name] || name));
      const list = el("ul");
      for (const value of values) {
        const item = el("li");
        const href = function (term) {
          return "/?" + new URLSearchParams({ q: withTerm(q, term), sort: sort }).toString();
        };
        const link = el("a", { href: href(value.term), title: "Add " + value.term + " (Alt-click: exclude)",
          "data-term": value.term }, value.label);
        link.addEventListener("click", function (event) {
          if (event.altKey || event.shiftKey) { event.preventDefault(); location.href = href("-" + value.term); }
        });
        const exclude = el("a", { href: href("-" + value.term), class: "exclude", title: "Exclude -" + value.term,
          "aria-label": "exclude " + value.label }, "−");
        item.appendChild(link);
        item.appendChild(el("span", { class: "n" }, value.count.toLocaleString("en")));
        item.appendChild(exclude);
        list.appendChild(item);
      }
      section.appendChild(list);
      box.appendChild(section);
    }
    if (data.sampled) {
      box.appendChild(el("p", { class: "muted" },
        "Counted over the newest " + data.frames_counted.toLocaleString("en") + " matches."));
    }
  }

  // ------------------------------------------------------------ start
  const grid = document.getElementById("grid");
  if (grid) initGallery(grid);
  document.querySelectorAll("main.frame-page .frame-view").forEach(initFrameView);
})();
