// AIMIS browser helpers: JSON forms with the CSRF header, and the live channel.
(function () {
  "use strict";

  function cookie(name) {
    const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }

  async function api(method, url, body) {
    const opts = { method, headers: { "x-csrftoken": cookie("csrftoken"), Accept: "application/json" }, credentials: "same-origin" };
    if (body instanceof FormData) {
      opts.body = body;
    } else if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(url, opts);
    const text = await res.text();
    let data = {};
    try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { detail: text }; }
    if (!res.ok) {
      const err = new Error(data.detail || res.statusText);
      err.status = res.status;
      err.data = data;
      throw err;
    }
    return data;
  }

  // <form data-api="/api/x" data-method="POST" data-then="reload|redirect:/p|message">
  function formBody(form) {
    if (form.enctype === "multipart/form-data") return new FormData(form);
    const out = {};
    for (const el of form.elements) {
      if (!el.name || el.disabled) continue;
      if (el.type === "checkbox") {
        if (el.dataset.list !== undefined) {
          out[el.name] = out[el.name] || [];
          if (el.checked) out[el.name].push(el.value);
        } else {
          out[el.name] = el.checked;
        }
      } else if (el.type === "number" || el.dataset.type === "int") {
        if (el.value !== "") out[el.name] = Number(el.value);
        else if (el.dataset.nullable !== undefined) out[el.name] = null;
      } else if (el.tagName === "SELECT" && el.dataset.type === "int-or-null") {
        out[el.name] = el.value === "" ? null : Number(el.value);
      } else if (el.type !== "submit" && el.type !== "button") {
        out[el.name] = el.value;
      }
    }
    return out;
  }

  function showMessage(form, text, ok) {
    let box = form.querySelector("[data-msg]");
    if (!box) {
      box = document.createElement("div");
      box.setAttribute("data-msg", "");
      form.appendChild(box);
    }
    box.textContent = text;
    box.className = ok ? "msg ok" : "msg error";
    box.setAttribute("role", ok ? "status" : "alert");
  }

  document.addEventListener("submit", async function (ev) {
    const form = ev.target;
    if (!form.dataset.api) return;
    ev.preventDefault();
    const button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    try {
      const data = await api(form.dataset.method || "POST", form.dataset.api, formBody(form));
      const done = new CustomEvent("aimis:done", { detail: data, cancelable: true });
      if (!form.dispatchEvent(done)) return;
      const then = form.dataset.then || "reload";
      if (then === "reload") location.reload();
      else if (then.startsWith("redirect:")) location.href = then.slice(9);
      else showMessage(form, data.message || "OK", true);
    } catch (err) {
      showMessage(form, err.message, false);
    } finally {
      if (button) button.disabled = false;
    }
  });

  // Buttons: <button data-api="/api/x" data-method="POST" data-confirm="Sure?">
  document.addEventListener("click", async function (ev) {
    const btn = ev.target.closest("button[data-api]");
    if (!btn || btn.form) return;
    if (btn.dataset.confirm && !confirm(btn.dataset.confirm)) return;
    btn.disabled = true;
    try {
      const body = btn.dataset.body ? JSON.parse(btn.dataset.body) : undefined;
      await api(btn.dataset.method || "POST", btn.dataset.api, body);
      location.reload();
    } catch (err) {
      alert(err.message);
      btn.disabled = false;
    }
  });

  // No inline handlers (the CSP refuses them): <select data-autosubmit> submits its form on
  // change, <a data-back> goes back in the history (its href is where to go without one).
  document.addEventListener("change", function (ev) {
    const el = ev.target.closest("[data-autosubmit]");
    if (el && el.form) el.form.submit();
  });
  document.addEventListener("click", function (ev) {
    const link = ev.target.closest("a[data-back]");
    if (!link || history.length < 2) return;
    ev.preventDefault();
    history.back();
  });

  // Live channel: reconnects and resumes from the last event id it saw.
  function live(topics, onEvent, onSubscribed) {
    const key = "aimis.last:" + topics.join(",");
    let lastId = Number(sessionStorage.getItem(key) || "-1");
    let ws = null;
    let delay = 500;
    function connect() {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      ws = new WebSocket(proto + "//" + location.host + "/ws");
      ws.onopen = function () {
        delay = 500;
        ws.send(JSON.stringify({ op: "subscribe", topics: topics, last_id: lastId }));
      };
      ws.onmessage = function (m) {
        const msg = JSON.parse(m.data);
        if (msg.op === "subscribed") {
          if (lastId < 0) { lastId = msg.head; sessionStorage.setItem(key, String(lastId)); }
          if (onSubscribed) onSubscribed(msg);
        } else if (msg.op === "event") {
          if (msg.id > lastId) { lastId = msg.id; sessionStorage.setItem(key, String(lastId)); }
          onEvent(msg);
        }
      };
      ws.onclose = function () {
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    connect();
    return { close: function () { ws.onclose = null; ws.close(); } };
  }

  // A region of the page that re-renders from the server when a matching live event arrives:
  // the page's fragment at `url` is fetched (events in quick succession: once) and the element
  // `#id` replaced by the fresh one; `accept(ev)` picks the events, `swapped(fresh)` restores
  // what the user had picked. The page's `#live-state` shows when the channel is connected;
  // `body[data-refreshed]` counts the refreshes (browser tests wait on it).
  function liveRegion(topics, opts) {
    let timer = null;
    async function refresh() {
      const res = await fetch(opts.url, { credentials: "same-origin" });
      if (!res.ok) return;
      const box = document.createElement("div");
      box.innerHTML = await res.text();
      const fresh = box.querySelector("#" + opts.id);
      const old = document.getElementById(opts.id);
      if (!fresh || !old) return;
      old.replaceWith(fresh);
      if (opts.swapped) opts.swapped(fresh, old);
      document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
    }
    return live(topics, function (ev) {
      if (!opts.accept(ev)) return;
      clearTimeout(timer);
      timer = setTimeout(refresh, opts.delay || 150);
    }, function () {
      const state = document.getElementById("live-state");
      if (state) state.dataset.connected = "1";
    });
  }

  // A migration run's bar and label patched by a `migration.progress` event. The events of
  // a run's concurrent batches can arrive out of order, and a run never goes backwards, so a
  // lower figure than the one shown is stale and ignored (the page's own refresh from the
  // server sets the true one). False when the page has no bar for that run.
  function runProgress(p, checkedWord) {
    const el = document.querySelector('[data-progress="' + p.case_id + '"]');
    if (!el) return false;
    const shown = Number(el.getAttribute("aria-valuenow") || 0);
    if (p.percent < shown) return true;
    el.firstElementChild.style.width = p.percent + "%";
    el.setAttribute("aria-valuenow", p.percent);
    const label = document.querySelector('[data-progress-label="' + p.case_id + '"]');
    if (label) label.textContent = p.percent + "% · " + p.checked + "/" + p.received + " " + checkedWord;
    return true;
  }

  window.aimis = { api: api, live: live, liveRegion: liveRegion, cookie: cookie, runProgress: runProgress };
})();
