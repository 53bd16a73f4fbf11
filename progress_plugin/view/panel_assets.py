"""The panel's inline script and stylesheet (pure data): the HTML fetches nothing.

The script upgrades the chart's SVG ``<title>`` tooltips (and the legend's ``title``
attributes) to one styled tooltip that follows the pointer and keyboard focus; its hash goes
into the page's Content-Security-Policy. The stylesheet uses logical properties
(``text-align: start``), so a right-to-left language would lay out without a change.
"""
from __future__ import annotations

import base64
import hashlib

TOOLTIP_JS = """(function () {
  var panel = document.currentScript.closest('.pp-panel');
  var tip = panel.querySelector('.pp-tip');
  var area = panel.querySelector('.pp-chart');
  area.querySelectorAll('svg title').forEach(function (t) {
    var host = t.parentNode;
    if (host.tagName.toLowerCase() === 'svg') return;
    host.setAttribute('data-tip', t.textContent);
    host.removeChild(t);
  });
  panel.querySelectorAll('.pp-legend [title]').forEach(function (el) {
    el.setAttribute('data-tip', el.getAttribute('title'));
    el.removeAttribute('title');
  });
  function show(el, x, y) {
    tip.textContent = el.getAttribute('data-tip');
    tip.hidden = false;
    var box = panel.getBoundingClientRect(), w = tip.offsetWidth, h = tip.offsetHeight;
    var left = Math.min(Math.max(4, x - box.left - w / 2), box.width - w - 4);
    var top = y - box.top - h - 12;
    if (top < 0) top = y - box.top + 16;
    tip.style.left = left + 'px';
    tip.style.top = top + 'px';
  }
  function hide() { tip.hidden = true; }
  panel.addEventListener('pointerover', function (e) {
    var el = e.target.closest && e.target.closest('[data-tip]');
    if (el && panel.contains(el)) show(el, e.clientX, e.clientY); else hide();
  });
  panel.addEventListener('pointerleave', hide);
  panel.addEventListener('focusin', function (e) {
    var el = e.target.closest && e.target.closest('[data-tip]');
    if (!el) return;
    var r = el.getBoundingClientRect();
    show(el, r.left + r.width / 2, r.top);
  });
  panel.addEventListener('focusout', hide);
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') hide(); });
})();"""

#: For a Content-Security-Policy that allows exactly this inline script.
TOOLTIP_JS_HASH = "sha256-" + base64.b64encode(hashlib.sha256(TOOLTIP_JS.encode()).digest()).decode()

CSS = """
.pp-panel{--ink:#1f2328;--muted:#57606a;--line:#d8dee4;--soft:#f6f8fa;position:relative;max-width:760px;
margin:0 auto;padding:16px;color:var(--ink);background:#fff;
font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Liberation Sans',Arial,sans-serif;box-sizing:border-box}
.pp-panel *{box-sizing:border-box}
.pp-panel h1{font-size:1.25rem;margin:0 0 2px;font-weight:600}
.pp-panel h2{font-size:1rem;margin:20px 0 8px;font-weight:600}
.pp-panel h3{font-size:.95rem;margin:0;font-weight:600}
.pp-sub{color:var(--muted);margin:0 0 12px;font-size:.9rem}
.pp-chart svg{display:block;width:100%;height:auto;max-width:560px}
.pp-legend{list-style:none;margin:8px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:.85rem}
.pp-legend li{display:flex;align-items:center;gap:6px;min-width:0;max-width:100%}
.pp-legend svg{flex:none;width:22px;height:14px}
.pp-legend span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.pp-legend li.pp-legend-tags{display:block;flex-basis:100%;white-space:normal}
.pp-legend-dir{white-space:nowrap}
.pp-chart .pp-legend-tags svg{display:inline-block;vertical-align:middle;margin:0 3px 0 4px}
.pp-goals{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:10px;margin:0;padding:0;list-style:none}
.pp-goal{border:1px solid var(--line);border-left:4px solid var(--goal);border-radius:6px;padding:10px 12px}
.pp-goal q{display:block;margin:2px 0 6px;quotes:'\\201C' '\\201D'}
.pp-status{font-weight:600}
.pp-goal p{margin:0;font-size:.85rem;color:var(--muted)}
.pp-prompts{margin:0;padding:0;list-style:none}
.pp-prompts li{background:var(--soft);border-radius:6px;padding:8px 12px;margin:0 0 6px}
.pp-agreed{margin:0}
.pp-agreed dt{font-size:.85rem;color:var(--muted)}
.pp-agreed dd{margin:0 0 8px}
.pp-private{border-left:3px solid var(--muted);padding-left:8px}
.pp-review{margin:8px 0 0;font-size:.9rem}
.pp-table{overflow-x:auto}
.pp-panel table{border-collapse:collapse;font-size:.85rem;width:100%}
.pp-panel th,.pp-panel td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:start;vertical-align:top}
.pp-panel td{text-align:end;font-variant-numeric:tabular-nums}
.pp-data td:nth-child(2){white-space:nowrap;text-align:start}
.pp-data td:last-child{min-width:12em;text-align:start}
.pp-panel details summary{cursor:pointer;color:var(--muted);margin:12px 0 6px}
.pp-checks-chart{display:block;width:100%;max-width:420px;height:auto;margin:0 0 4px}
.pp-checks .pp-legend{margin:0 0 8px}
.pp-tip{position:absolute;z-index:10;max-width:280px;padding:6px 9px;border-radius:6px;background:#1f2328;
color:#fff;font-size:.8rem;line-height:1.35;pointer-events:none;box-shadow:0 2px 8px rgba(0,0,0,.2)}
.pp-tip[hidden]{display:none}
@media (max-width:480px){.pp-panel{padding:10px}.pp-panel h1{font-size:1.1rem}}
"""
