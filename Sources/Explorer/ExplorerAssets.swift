/// The explorer's stylesheet and its one script, served by the node itself
/// (`/explorer/style.css`, `/explorer/live.js`): the pages load nothing from any other host, and
/// the Content-Security-Policy the pages carry (`default-src 'self'`) forbids it.
enum ExplorerAssets {
    /// Every response of the explorer carries this policy: scripts, styles and connections from
    /// this origin only, no inline script, no plugins, no framing.
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    /// The tab icon (so no browser asks for `/favicon.ico`, which the API node does not have).
    static let icon = """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#3b6fb6"/></svg>

        """

    static let css = """
        :root { --fg: #1d2733; --muted: #5b6b7d; --line: #d8dee6; --accent: #3b6fb6; --bad: #b63b3b; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: #f6f8fa; }
        header { display: flex; flex-wrap: wrap; gap: 1em; align-items: center; padding: .6em 1.2em;
          background: #fff; border-bottom: 1px solid var(--line); }
        header .brand { font-weight: 600; color: var(--fg); text-decoration: none; }
        nav a { margin-right: .9em; color: var(--muted); text-decoration: none; }
        nav a.current { color: var(--accent); font-weight: 600; }
        .search input { width: 22em; padding: .25em .5em; border: 1px solid var(--line); border-radius: 4px; }
        .tip { margin-left: auto; color: var(--muted); }
        .dot { display: inline-block; width: .6em; height: .6em; border-radius: 50%; background: var(--line); }
        .dot.on { background: #3bb66b; }
        main { padding: 0 1.2em 2em; max-width: 110em; }
        h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
        .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(15em, 1fr)); gap: .8em; }
        .card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .4em 1em; }
        .card h2 { margin: .3em 0; color: var(--muted); font-size: .9em; font-weight: 500; }
        .card p { margin: .3em 0; }
        .big { font-size: 1.8em; font-weight: 600; overflow-wrap: anywhere; }
        .card p { overflow-wrap: anywhere; }
        .charts { display: flex; flex-wrap: wrap; gap: 1.5em; }
        .charts figure { margin: 0; }
        .charts figcaption { color: var(--muted); font-size: .9em; }
        table { border-collapse: collapse; background: #fff; width: 100%; }
        th, td { border: 1px solid var(--line); padding: .3em .5em; text-align: left; vertical-align: top; }
        th { background: #eef2f6; font-weight: 500; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        td.url { min-width: 16em; }
        .hash, .url { font-family: ui-monospace, monospace; font-size: .92em; word-break: break-all; }
        .bad { color: var(--bad); font-weight: 600; }
        .good { color: #2a8a52; }
        .share { color: var(--muted); font-size: .9em; white-space: nowrap; }
        td.open { color: var(--accent); font-weight: 600; }
        pre { background: #fff; border: 1px solid var(--line); padding: .6em 1em; overflow-x: auto; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25em 1.2em; background: #fff;
          border: 1px solid var(--line); padding: .8em 1em; }
        dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; word-break: break-all; }
        .error .status { font-size: 2.4em; font-weight: 700; color: var(--bad); margin: .2em 0; }
        footer { padding: 1em 1.2em; color: var(--muted); font-size: .85em; }
        svg { background: #fff; border: 1px solid var(--line); }

        """

    /// Live updates: the node relays its chain node's event stream at `/explorer/events`; this
    /// script writes new heights, block times and the stage countdown into the elements marked
    /// `data-live`, prepends new blocks to the overview's table and counts finished inferences per
    /// minute. Text goes in through `textContent` only, so nothing it receives is parsed as HTML.
    /// On the proposals pages a governance event (`proposal_…`) makes it fetch the same page again
    /// and swap in its `#live-proposals` section: that is this server's own escaped HTML, parsed
    /// into an inert document (no script in it runs), so the live tallies need no second renderer.
    static let liveScript = """
        "use strict";
        (function () {
          if (!window.EventSource) { return; }
          var finished = [];
          function setAll(name, text) {
            document.querySelectorAll('[data-live="' + name + '"]').forEach(function (el) { el.textContent = text; });
          }
          function utc(ms) {
            return new Date(ms).toISOString().replace("T", " ").replace(/\\.\\d+Z$/, "") + " UTC";
          }
          function countdown(height) {
            var el = document.getElementById("countdown");
            if (!el) { return; }
            var target = parseInt(el.getAttribute("data-target-height"), 10);
            var interval = parseInt(el.getAttribute("data-interval-ms"), 10) || 0;
            var left = Math.max(0, target - height);
            el.textContent = left + " blocks" + (interval > 0 ? " (≈ " + Math.round(left * interval / 1000) + " s)" : "");
          }
          function addBlock(block) {
            var body = document.getElementById("live-blocks");
            if (!body) { return; }
            var row = document.createElement("tr");
            var link = document.createElement("a");
            link.href = "/explorer/block/" + block.height;
            link.textContent = String(block.height);
            var cells = [link, utc(block.time_ms), String(block.num_txs), String(block.hash).slice(0, 12) + "…"];
            cells.forEach(function (content, i) {
              var cell = document.createElement("td");
              if (typeof content === "string") { cell.textContent = content; } else { cell.appendChild(content); }
              if (i === 2) { cell.className = "num"; }
              if (i === 3) { cell.className = "hash"; }
              row.appendChild(cell);
            });
            body.insertBefore(row, body.firstChild);
            while (body.children.length > 10) { body.removeChild(body.lastChild); }
          }
          var source = new EventSource("/explorer/events");
          var dot = document.getElementById("live-status");
          source.onopen = function () { if (dot) { dot.className = "dot on"; } };
          source.onerror = function () { if (dot) { dot.className = "dot"; } };
          source.addEventListener("new_block", function (message) {
            var block = JSON.parse(message.data);
            setAll("height", String(block.height));
            setAll("block-time", utc(block.time_ms));
            countdown(block.height);
            addBlock(block);
          });
          // A page of proposals refreshes its tallies when a governance event arrives: the same
          // page is fetched again (this origin) and its section swapped in as parsed nodes.
          var refreshing = false;
          function refreshProposals() {
            var current = document.getElementById("live-proposals");
            if (!current || refreshing) { return; }
            refreshing = true;
            fetch(window.location.href, { credentials: "same-origin" }).then(function (response) {
              return response.ok ? response.text() : null;
            }).then(function (html) {
              if (html === null) { return; }
              var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live-proposals");
              if (fresh) { current.replaceWith(document.importNode(fresh, true)); }
            }).catch(function () {}).then(function () { refreshing = false; });
          }
          source.addEventListener("ledger", function (message) {
            var event = JSON.parse(message.data);
            if (String(event.type).indexOf("proposal_") === 0) { refreshProposals(); return; }
            if (event.type !== "inference_finished") { return; }
            var now = Date.now();
            finished.push(now);
            finished = finished.filter(function (t) { return now - t < 60000; });
            setAll("inferences-per-minute", String(finished.length));
          });
        })();

        """
}
