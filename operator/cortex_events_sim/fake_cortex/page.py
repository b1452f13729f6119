"""The emulator's web page at ``/``: each entity's timeline, newest first, as it changes.

A person trying the operator against the emulator sees there what Cortex would show: for each
entity, its custom events and deploys (a deploy marked as one), newest first. The page asks
the admin API (``/_fake/events``, ``/_fake/deploys``) once a second and redraws what changed,
so an event updated in place (PUT) shows its new title. No authentication, like the admin API;
the emulator listens on loopback.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["PAGE_PATH", "add_page_route"]

PAGE_PATH = "/"

REFRESH_MILLISECONDS = 1000

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Cortex emulator: timelines</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d1d1f; }
  h1 { font-size: 1.3em; margin: 0 0 .2em; }
  #status { color: #666; margin-bottom: 1em; }
  section.entity { border: 1px solid #ddd; border-radius: 6px; padding: .6em 1em;
                   margin-bottom: 1em; }
  section.entity h2 { font-size: 1.1em; margin: 0 0 .4em; }
  ol { list-style: none; margin: 0; padding: 0; }
  li { padding: .25em 0; border-top: 1px solid #f0f0f0; }
  time { color: #666; font-variant-numeric: tabular-nums; margin-right: .6em; }
  .what { display: inline-block; min-width: 4.5em; font-size: .8em; font-weight: 600;
          text-transform: uppercase; border-radius: 3px; padding: 0 .4em; margin-right: .6em;
          text-align: center; }
  li.event .what { background: #e8f0fe; color: #1a56c5; }
  li.deploy .what { background: #e6f4ea; color: #137333; }
  .type { font-family: ui-monospace, monospace; margin-right: .6em; }
</style>
</head>
<body>
<h1>Cortex emulator: what each entity's timeline holds</h1>
<div id="status">Loading...</div>
<main id="entities"></main>
<script>
"use strict";
const REFRESH = __REFRESH__;

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function item(entry) {
  const li = element("li", {"class": entry.what, "data-uuid": entry.uuid});
  li.appendChild(element("time", {"datetime": entry.timestamp},
                         entry.timestamp.replace("T", " ").replace("Z", " UTC")));
  li.appendChild(element("span", {"class": "what"}, entry.what));
  li.appendChild(element("span", {"class": "type"}, entry.type));
  li.appendChild(element("span", {"class": "title"}, entry.title));
  return li;
}

function draw(events, deploys) {
  const byTag = new Map();
  const add = (entry, what) => {
    if (!byTag.has(entry.tag)) byTag.set(entry.tag, []);
    byTag.get(entry.tag).push(Object.assign({what: what}, entry));
  };
  events.forEach((e) => add(e, "event"));
  deploys.forEach((d) => add(d, "deploy"));
  const main = document.getElementById("entities");
  const sections = [];
  for (const tag of Array.from(byTag.keys()).sort()) {
    const entries = byTag.get(tag);
    entries.sort((a, b) => (a.timestamp < b.timestamp ? 1 : a.timestamp > b.timestamp ? -1 : 0));
    const section = element("section", {"class": "entity", "data-tag": tag});
    section.appendChild(element("h2", {}, tag));
    const list = element("ol");
    entries.forEach((entry) => list.appendChild(item(entry)));
    section.appendChild(list);
    sections.push(section);
  }
  main.replaceChildren(...sections);
  const count = events.length + deploys.length;
  document.getElementById("status").textContent =
    count ? `${events.length} events and ${deploys.length} deploys on ${byTag.size} entities`
          : "Nothing recorded yet: this page updates as events arrive.";
}

let shown = "";
async function refresh() {
  try {
    const [events, deploys] = await Promise.all(
      ["/_fake/events", "/_fake/deploys"].map((path) => fetch(path).then((r) => r.json())));
    const now = JSON.stringify([events, deploys]);
    if (now !== shown) { shown = now; draw(events, deploys); }
  } catch (error) {
    document.getElementById("status").textContent = `The emulator does not answer: ${error}`;
  }
  setTimeout(refresh, REFRESH);
}
refresh();
</script>
</body>
</html>
""".replace("__REFRESH__", str(REFRESH_MILLISECONDS))


async def _page(_: web.Request) -> web.StreamResponse:
    return web.Response(text=_PAGE, content_type="text/html")


def add_page_route(app: web.Application) -> None:
    app.router.add_get(PAGE_PATH, _page)
