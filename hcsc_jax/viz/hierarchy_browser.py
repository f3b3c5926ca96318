"""index.html: an offline, self-contained browser of the hierarchy. The
page starts at the top-level prototypes (size, most central thumbnails);
a click goes down to the children, at the finest level to the member images
(most central first, 120 per page); a breadcrumb goes back up; a search box
finds a file name and shows its cluster on each level. The images to label
first (labels_todo.csv, chosen by evals/label_budget.py) carry their rank
on every page, cards count them, a button lists them all and another
exports the list as labels_todo.csv (the same bytes the command wrote).

Thumbnails come from sprite sheets (`thumbs/sheet_<k>.png`, one tile per
image), so 100k images are a hundred small files, not 100k inlined PNGs;
the page draws only what is on screen.
"""

from __future__ import annotations

import html
import json

from hcsc_jax.viz import hierarchy_files

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } .crumbs a { cursor: pointer; color: #06c; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 8px;
        cursor: pointer; width: 220px; }
.card:hover { border-color: #06c; }
.thumbs { display: flex; flex-wrap: wrap; gap: 2px; }
.thumb { display: inline-block; background-repeat: no-repeat; }
.member { display: inline-block; margin: 3px; text-align: center;
          font-size: 10px; width: 96px; overflow: hidden; }
#results li { margin: 2px 0; }
.todo { outline: 3px solid #d60; }
.badge { color: #d60; font-weight: bold; }
.held { color: #777; font-style: italic; }
.human { font-weight: bold; } .predicted { font-style: italic; color: #555; }
.doubt { outline: 3px solid #c00; } .doubt-badge { color: #c00; }
.label-input { width: 88px; font-size: 10px; }
</style></head><body>
<h1>__TITLE__</h1>
<p>How to read it: each card is a prototype (a cluster of images) with its
size and its most central images. Click a card to see its children one
level down; at the finest level you see its member images, most central
first. The path above the cards leads back up. Images with an orange frame
are the ones to label first (their rank in labels_todo.csv); images marked
"held out" were kept out of training and placed at their nearest
prototype.</p>
<p><span id="todo-count"></span>
<button id="todo-view">show the images to label</button>
<button id="export">export labels_todo.csv</button></p>
<div id="labels-bar" style="display:none"><p>Labels: bold = yours,
italic = predicted (with its confidence); a red frame marks a doubt (your
label disagrees with the encoder, or a prediction below the 95%-precision
confidence). Type a label on a card to set or correct it.
<select id="class-filter"><option value="">every class</option></select>
<label><input type="checkbox" id="doubt-filter"> doubtful only</label>
<button id="filter-view">show</button> <span id="filter-count"></span>
<button id="export-labels">export labels.csv</button>
<span id="edit-count"></span></p><datalist id="classes"></datalist></div>
<p><input id="search" placeholder="find a file name" size="40">
<button id="go">find</button></p><ul id="results"></ul>
<div class="crumbs" id="crumbs"></div>
<div id="view"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
const D = JSON.parse(document.getElementById('data').textContent);
const T = __T__, PER = __PER__, PAGE = 120;
const TOP = D.levels.length - 1;
const RANK = {};
const L = D.lab, EDIT = {};
function labelOf(i) {
  if (i in EDIT) return EDIT[i];
  return L ? L.classes[L.label[i]] : '';
}
function isHuman(i) { return (i in EDIT) ? EDIT[i] !== '' : !!(L && L.human[i]); }
function labelBox(i, m, t) {
  const box = document.createElement('div');
  const input = document.createElement('input');
  input.className = 'label-input'; input.value = labelOf(i);
  input.setAttribute('list', 'classes'); input.dataset.index = i;
  const note = document.createElement('div');
  function paint() {
    input.className = 'label-input ' + (isHuman(i) ? 'human' : 'predicted');
    note.textContent = isHuman(i) ? (i in EDIT ? 'yours (edited)' : 'yours')
        : 'predicted ' + L.conf[i].toFixed(2);
  }
  input.onchange = () => {
    EDIT[i] = input.value.trim(); paint();
    document.getElementById('edit-count').textContent =
        Object.keys(EDIT).length + ' edited';
  };
  input.onclick = e => e.stopPropagation();
  paint();
  box.appendChild(input); box.appendChild(note);
  if (L.doubt[i]) {
    t.classList.add('doubt'); m.classList.add('doubtful');
    const b = document.createElement('div'); b.className = 'doubt-badge';
    b.textContent = L.human[i] ? 'doubt: encoder says ' +
        L.classes[L.predicted[i]] : 'doubt'; box.appendChild(b);
  }
  m.appendChild(box);
}
function labelsCsv() {
  const lines = ['path,label'];
  for (let i = 0; i < D.paths.length; i++) {
    if (isHuman(i)) lines.push(csvField(D.paths[i]) + ',' + csvField(labelOf(i)));
  }
  return lines.join('\\r\\n') + '\\r\\n';
}
function download(text, name) {
  const blob = new Blob([text], {type: 'text/csv'});
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob); a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
}
function filtered() {
  const c = document.getElementById('class-filter').value;
  const doubt = document.getElementById('doubt-filter').checked;
  const out = [];
  for (let i = 0; i < D.paths.length; i++) {
    if (c !== '' && labelOf(i) !== c) continue;
    if (doubt && !L.doubt[i]) continue;
    out.push(i);
  }
  return out;
}
function showFiltered(page) {
  page = page || 0;
  crumbs([]);
  const rows = filtered();
  document.getElementById('filter-count').textContent =
      rows.length + ' images';
  const view = document.getElementById('view');
  view.innerHTML = '';
  const grid = document.createElement('div'); grid.className = 'grid';
  view.appendChild(grid);
  rows.slice(page * PAGE, (page + 1) * PAGE).forEach(
      i => grid.appendChild(member(i)));
  if (rows.length > (page + 1) * PAGE) {
    const more = document.createElement('button');
    more.textContent = 'next ' + PAGE; more.id = 'next';
    more.onclick = () => showFiltered(page + 1);
    view.appendChild(more);
  }
}
if (L) {
  document.getElementById('labels-bar').style.display = '';
  const select = document.getElementById('class-filter');
  const list = document.getElementById('classes');
  L.classes.forEach(c => {
    const o = document.createElement('option'); o.value = c;
    o.textContent = c; select.appendChild(o);
    const d = document.createElement('option'); d.value = c;
    list.appendChild(d);
  });
  document.getElementById('filter-view').onclick = () => showFiltered(0);
  document.getElementById('export-labels').onclick =
      () => download(labelsCsv(), 'labels.csv');
}
D.todo.forEach(r => { RANK[r.index] = r.rank; });
document.getElementById('todo-count').textContent =
    D.todo.length + ' images to label first.';
function csvField(v) {
  const s = String(v);
  return /[",\\r\\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}
function todoCsv() {
  const lines = [D.columns.map(csvField).join(',')];
  D.todo.forEach(r => lines.push(D.columns.map(c => csvField(r[c])).join(',')));
  return lines.join('\\r\\n') + '\\r\\n';
}
function exportTodo() { download(todoCsv(), 'labels_todo.csv'); }
function member(i) {
  const m = document.createElement('span'); m.className = 'member';
  m.dataset.index = i;
  const t = thumb(i, 96);
  m.appendChild(t);
  const name = document.createElement('div');
  name.textContent = D.paths[i].split('/').pop();
  m.appendChild(name);
  if (RANK[i]) {
    t.classList.add('todo'); m.classList.add('to-label');
    const b = document.createElement('div'); b.className = 'badge';
    b.textContent = 'label #' + RANK[i]; m.appendChild(b);
  }
  if (D.held[i]) {
    const h = document.createElement('div'); h.className = 'held';
    h.textContent = 'held out'; m.appendChild(h);
  }
  if (L) labelBox(i, m, t);
  return m;
}
function thumb(i, size) {
  size = size || T;
  const j = i % (PER * PER), s = Math.floor(i / (PER * PER));
  const el = document.createElement('span');
  el.className = 'thumb';
  el.title = D.paths[i] + (D.labels[i] ? ' (' + D.labels[i] + ')' : '');
  el.style.width = size + 'px'; el.style.height = size + 'px';
  el.style.backgroundImage = 'url(thumbs/sheet_' + s + '.png)';
  el.style.backgroundSize = (PER * size) + 'px ' + (PER * size) + 'px';
  el.style.backgroundPosition = (-(j % PER) * size) + 'px ' +
      (-Math.floor(j / PER) * size) + 'px';
  return el;
}
function children(level, id) {
  return D.levels[level - 1].prototypes.filter(p => p.parent === id);
}
function crumbs(path) {
  const c = document.getElementById('crumbs');
  c.innerHTML = '';
  const home = document.createElement('a');
  home.textContent = 'top level'; home.onclick = () => show([]);
  c.appendChild(home);
  path.forEach((step, k) => {
    c.appendChild(document.createTextNode(' > '));
    const a = document.createElement('a');
    a.textContent = 'level ' + step[0] + ' cluster ' + step[1];
    a.className = 'crumb';
    a.onclick = () => show(path.slice(0, k + 1));
    c.appendChild(a);
  });
}
function card(level, p, path) {
  const div = document.createElement('div');
  div.className = 'card';
  div.dataset.level = level; div.dataset.id = p.id;
  const h = document.createElement('div');
  h.textContent = 'level ' + level + ' cluster ' + p.id + ': ' + p.size +
      ' images';
  div.appendChild(h);
  const t = document.createElement('div'); t.className = 'thumbs';
  p.members.slice(0, 8).forEach(i => {
    const el = thumb(i);
    if (RANK[i]) el.classList.add('todo');
    t.appendChild(el);
  });
  div.appendChild(t);
  const marked = p.members.filter(i => RANK[i]).length;
  if (marked) {
    const b = document.createElement('div'); b.className = 'badge';
    b.textContent = marked + ' to label'; div.appendChild(b);
  }
  div.onclick = () => show(path.concat([[level, p.id]]));
  return div;
}
function show(path, page) {
  page = page || 0;
  crumbs(path);
  const view = document.getElementById('view');
  view.innerHTML = '';
  const grid = document.createElement('div'); grid.className = 'grid';
  view.appendChild(grid);
  if (path.length === 0) {
    D.levels[TOP].prototypes.forEach(p => grid.appendChild(card(TOP, p, [])));
    return;
  }
  const [level, id] = path[path.length - 1];
  if (level > 0) {
    children(level, id).forEach(p => grid.appendChild(card(level - 1, p, path)));
    return;
  }
  const members = D.levels[0].prototypes[id].members;
  members.slice(page * PAGE, (page + 1) * PAGE).forEach(
      i => grid.appendChild(member(i)));
  if (members.length > (page + 1) * PAGE) {
    const more = document.createElement('button');
    more.textContent = 'next ' + PAGE; more.id = 'next';
    more.onclick = () => show(path, page + 1);
    view.appendChild(more);
  }
}
function find() {
  const q = document.getElementById('search').value.toLowerCase();
  const out = document.getElementById('results');
  out.innerHTML = '';
  if (!q) return;
  let shown = 0;
  for (let i = 0; i < D.paths.length && shown < 20; i++) {
    if (D.paths[i].toLowerCase().indexOf(q) < 0) continue;
    shown++;
    const li = document.createElement('li');
    const where = D.assignments.map((a, l) => 'level ' + l + ': ' + a[i]);
    li.textContent = D.paths[i] + ' -> ' + where.join(', ');
    out.appendChild(li);
  }
  if (!shown) out.innerHTML = '<li>no file name contains that</li>';
}
function showTodo() {
  crumbs([]);
  const view = document.getElementById('view');
  view.innerHTML = '<p>The images to label first, in order:</p>';
  const grid = document.createElement('div'); grid.className = 'grid';
  view.appendChild(grid);
  D.todo.forEach(r => grid.appendChild(member(r.index)));
}
document.getElementById('todo-view').onclick = showTodo;
document.getElementById('export').onclick = exportTodo;
document.getElementById('go').onclick = find;
document.getElementById('search').onkeydown = e => {
  if (e.key === 'Enter') find(); };
show([]);
</script></body></html>
"""


def label_data(predictions) -> dict | None:
  """What the page shows of labelling/prediction.py's Predictions: every
  image's final label, whether it is human, its predicted class (for a
  human label: without it), confidence, and whether to doubt it."""
  if predictions is None:
    return None
  import numpy as np  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import prediction  # pylint: disable=g-import-not-at-top
  doubt = predictions.human & (predictions.predicted != predictions.label)
  if predictions.estimate.threshold is not None:
    doubt |= ~predictions.human & ~predictions.confident
  else:
    doubt[prediction.doubtful_predictions(predictions)] = True
  return {"classes": predictions.class_names,
          "label": predictions.label.tolist(),
          "human": predictions.human.astype(int).tolist(),
          "predicted": predictions.predicted.tolist(),
          "conf": np.round(predictions.confidence, 3).tolist(),
          "doubt": doubt.astype(int).tolist()}


def page(record: dict, tree: hierarchy_files.ImageHierarchy,
         todo: list[dict], columns: list[str], title: str,
         labels: dict | None = None) -> str:
  """The page with the tree, paths, assignments and the to-label list
  (`todo` rows with `columns`, as labels_todo.csv) embedded as JSON;
  `labels` (label_data) adds the labelling view."""
  data = dict(record, paths=tree.paths, labels=tree.labels,
              assignments=[[int(v) for v in a] for a in tree.assignments],
              held=[int(h) for h in tree.held_out], todo=todo,
              columns=columns, lab=labels)
  payload = json.dumps(data).replace("</", "<\\/")
  per = hierarchy_files.SHEET_TILES
  return (_PAGE.replace("__TITLE__", html.escape(title))
          .replace("__T__", str(hierarchy_files.THUMB))
          .replace("__PER__", str(per))
          .replace("__DATA__", payload))
