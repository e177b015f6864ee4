// The flame graph of one profile, drawn on a canvas from the data embedded in
// the page (its layout: FlameTree::json in launcher/flame_tree.h). Nothing is
// fetched: the data is inflated with the browser's own DecompressionStream.
(function () {
  'use strict';

  const ROW = 18;           // px per stack level
  const MIN_WIDTH = 0.5;    // px: narrower frames (and so their callees) are not drawn
  const LABEL_MIN = 22;     // px: narrower frames get no text
  const FONT = '12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';

  // What the page shows, readable from outside (the browser test reads it; the
  // drawn rectangles are also what hover and click are resolved against).
  const view = window.ppagentFlame = {
    ready: false, error: null, firstRenderMs: null,
    type: 0, zoom: 0, drawn: [], matchShare: null,
  };

  const $ = (id) => document.getElementById(id);
  const canvas = $('flame'), tooltip = $('tooltip'), search = $('search');
  const typeSelect = $('sample-type'), status = $('status'), matchText = $('match');

  let data, strings, frameOf, lineOf, severalLines, depthOf, parent, end, nodeCount;
  const cumByType = [];
  let matchedFrame = null;   // Uint8Array by frame index, or null without a search

  async function inflate(base64) {
    const binary = atob(base64.replace(/\s+/g, ''));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Response(stream).text();
  }

  // Nodes come in preorder with their depth; parent and subtree end follow from that.
  function buildTree() {
    depthOf = data.depth;
    nodeCount = depthOf.length;
    frameOf = data.frame;
    lineOf = data.line;
    severalLines = new Uint8Array(nodeCount);
    for (const node of data.several_lines) severalLines[node] = 1;
    parent = new Int32Array(nodeCount);
    end = new Int32Array(nodeCount);
    const open = [];
    for (let i = 0; i < nodeCount; i++) {
      while (open.length > depthOf[i]) end[open.pop()] = i;
      parent[i] = open.length ? open[open.length - 1] : -1;
      open.push(i);
    }
    while (open.length) end[open.pop()] = nodeCount;
  }

  function cumulative(type) {
    if (!cumByType[type]) {
      const cum = Float64Array.from(data.self[type]);
      for (let i = nodeCount - 1; i > 0; i--) cum[parent[i]] += cum[i];
      cumByType[type] = cum;
    }
    return cumByType[type];
  }

  const isRoot = (node) => node === 0;
  const nameOf = (node) => isRoot(node) ? 'all' : strings[data.frames[3 * frameOf[node]]];
  const fileOf = (node) => isRoot(node) ? '' : strings[data.frames[3 * frameOf[node] + 1]];
  const inlinedAt = (node) => !isRoot(node) && data.frames[3 * frameOf[node] + 2] === 1;

  // ---- numbers as people read them

  const NS_PER = { nanoseconds: 1, microseconds: 1e3, milliseconds: 1e6, seconds: 1e9 };

  function formatValue(value, unit) {
    if (unit in NS_PER) {
      const ns = value * NS_PER[unit];
      const abs = Math.abs(ns);
      if (abs >= 60e9) return (ns / 60e9).toFixed(2) + ' min';
      if (abs >= 1e9) return (ns / 1e9).toFixed(2) + ' s';
      if (abs >= 1e6) return (ns / 1e6).toFixed(2) + ' ms';
      if (abs >= 1e3) return (ns / 1e3).toFixed(2) + ' µs';
      return ns + ' ns';
    }
    if (unit === 'bytes') {
      const steps = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let scaled = value, step = 0;
      while (Math.abs(scaled) >= 1024 && step < steps.length - 1) { scaled /= 1024; step++; }
      return (step ? scaled.toFixed(2) : String(scaled)) + ' ' + steps[step];
    }
    const count = value.toLocaleString('en-US');
    return unit === 'count' ? count : count + ' ' + unit;
  }

  const percent = (part, whole) => whole > 0 ? (100 * part / whole).toFixed(2) + '%' : '–';

  // ---- colours: stable per function name; inlined frames in another family

  function hash(text) {
    let h = 2166136261;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
    return h >>> 0;
  }

  function colour(node, ancestor) {
    if (isRoot(node)) return ancestor ? '#d8d8d8' : '#c8c8c8';
    if (matchedFrame && matchedFrame[frameOf[node]]) return ancestor ? '#eeb0f7' : '#e040fb';
    const h = hash(nameOf(node));
    const light = 55 + (h >>> 8) % 15 + (ancestor ? 15 : 0);
    if (inlinedAt(node)) return `hsl(${160 + h % 30}, 50%, ${light}%)`;
    return `hsl(${h % 45 + 5}, 85%, ${light}%)`;
  }

  // ---- drawing

  function layout(width) {
    const cum = cumulative(view.type);
    const rects = [];
    const chain = [];
    for (let a = view.zoom; a >= 0; a = parent[a]) chain.unshift(a);
    chain.forEach((node, depth) =>
      rects.push({ node, name: nameOf(node), x: 0, w: width, depth, ancestor: node !== view.zoom }));
    const scale = cum[view.zoom] > 0 ? width / cum[view.zoom] : 0;
    const place = (node, x, depth) => {
      let childX = x;
      for (let child = node + 1; child < end[node]; child = end[child]) {
        const w = cum[child] * scale;
        if (w >= MIN_WIDTH) {
          rects.push({ node: child, name: nameOf(child), x: childX, w, depth, ancestor: false });
          place(child, childX, depth + 1);
        }
        if (w > 0) childX += w;
      }
    };
    place(view.zoom, 0, chain.length);
    return rects;
  }

  function draw() {
    const width = canvas.clientWidth;
    const rects = layout(width);
    let rows = 1;
    for (const r of rects) rows = Math.max(rows, r.depth + 1);
    const ratio = window.devicePixelRatio || 1;
    canvas.style.height = rows * ROW + 'px';
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(rows * ROW * ratio);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.font = FONT;
    ctx.textBaseline = 'middle';
    const charWidth = ctx.measureText('m').width;
    for (const r of rects) {
      r.y = r.depth * ROW;
      r.h = ROW - 1;
      r.matched = !isRoot(r.node) && !!matchedFrame && matchedFrame[frameOf[r.node]] === 1;
      r.inlined = inlinedAt(r.node);
      ctx.fillStyle = colour(r.node, r.ancestor);
      ctx.fillRect(r.x, r.y, Math.max(r.w - 0.5, 0.5), r.h);
      if (r.w < LABEL_MIN) continue;
      const fit = Math.floor((r.w - 6) / charWidth);
      let label = (r.inlined ? '↳ ' : '') + r.name;
      if (label.length > fit) {
        if (fit < 4) continue;  // a letter or two says nothing
        label = label.slice(0, fit - 1) + '…';
      }
      ctx.fillStyle = '#111';
      ctx.font = r.inlined ? 'italic ' + FONT : FONT;
      ctx.fillText(label, r.x + 3, r.y + ROW / 2);
    }
    view.drawn = rects;
    view.width = width;
    view.total = cumulative(view.type)[0];
  }

  // ---- search

  function updateSearch() {
    const text = search.value;
    matchedFrame = null;
    view.matchShare = null;
    search.classList.remove('invalid');
    if (text) {
      let test;
      try {
        const re = new RegExp(text);
        test = (name) => re.test(name);
      } catch (e) {
        search.classList.add('invalid');   // not a regular expression: matched as text
        test = (name) => name.includes(text);
      }
      const frameCount = data.frames.length / 3;
      matchedFrame = new Uint8Array(frameCount);
      for (let f = 0; f < frameCount; f++) matchedFrame[f] = test(strings[data.frames[3 * f]]) ? 1 : 0;
    }
    updateMatchShare();
  }

  // A matched frame below a matched frame is not counted twice.
  function updateMatchShare() {
    if (!matchedFrame) { matchText.textContent = ''; return; }
    const cum = cumulative(view.type);
    let matched = 0;
    for (let i = 1; i < nodeCount;) {
      if (matchedFrame[frameOf[i]]) { matched += cum[i]; i = end[i]; } else i++;
    }
    view.matchShare = cum[0] > 0 ? matched / cum[0] : 0;
    const unit = data.types[view.type][1];
    matchText.textContent = `Matched: ${percent(matched, cum[0])} of all (${formatValue(matched, unit)})`;
  }

  // ---- hover and click

  function rectAt(event) {
    const box = canvas.getBoundingClientRect();
    const x = event.clientX - box.left, y = event.clientY - box.top;
    const depth = Math.floor(y / ROW);
    for (const r of view.drawn) {
      if (r.depth === depth && x >= r.x && x < r.x + r.w) return r;
    }
    return null;
  }

  function describe(node) {
    const cum = cumulative(view.type);
    const self = data.self[view.type][node];
    const unit = data.types[view.type][1];
    const lines = [];
    if (!isRoot(node)) {
      const file = fileOf(node);
      const line = lineOf[node];
      let where = file || '(no source file)';
      if (line > 0) where += ':' + line;
      if (severalLines[node]) where += ' (the line with most of the value; others too)';
      lines.push(where);
      if (inlinedAt(node)) lines.push('inlined into its caller');
    }
    let value = `${formatValue(cum[node], unit)}, ${percent(cum[node], cum[0])} of all`;
    if (view.zoom !== 0 && node !== view.zoom && end[node] <= end[view.zoom] && node > view.zoom) {
      value += `, ${percent(cum[node], cum[view.zoom])} of the zoomed frame`;
    }
    lines.push(value);
    lines.push(`self: ${formatValue(self, unit)} (${percent(self, cum[0])})`);
    return { name: nameOf(node), text: lines.join('\n') };
  }

  function showTooltip(event) {
    const r = rectAt(event);
    if (!r) { tooltip.hidden = true; return; }
    const { name, text } = describe(r.node);
    tooltip.textContent = '';
    const title = document.createElement('div');
    title.className = 'function';
    title.textContent = name;
    tooltip.append(title, text);
    tooltip.hidden = false;
    const room = window.innerWidth - event.clientX;
    tooltip.style.left = (room < 420 ? Math.max(0, event.clientX - 420) : event.clientX + 14) + 'px';
    tooltip.style.top = (event.clientY + 16) + 'px';
  }

  function zoomTo(node) {
    view.zoom = node;
    draw();
  }

  // ---- start

  function fillTypes() {
    data.types.forEach(([name, unit], i) => {
      const option = document.createElement('option');
      option.value = String(i);
      option.textContent = `${name} (${unit})`;
      typeSelect.append(option);
    });
    typeSelect.value = String(view.type);
    $('type-label').hidden = data.types.length < 2;
  }

  function updateSummary() {
    const [name, unit] = data.types[view.type];
    const total = cumulative(view.type)[0];
    const all = `${name}: ${formatValue(total, unit)} in all`;
    $('summary').textContent = data.summary ? `${data.summary} · ${all}` : all;
  }

  async function start() {
    data = JSON.parse(await inflate($('profile-data').textContent));
    strings = data.strings;
    buildTree();
    view.type = data.default;
    view.nodeCount = nodeCount;
    document.title = data.title + ' – ppagent flame graph';
    $('title').textContent = data.title;
    fillTypes();
    updateSummary();
    draw();
    status.hidden = true;
    view.firstRenderMs = performance.now();
    view.ready = true;

    canvas.addEventListener('mousemove', showTooltip);
    canvas.addEventListener('mouseleave', () => { tooltip.hidden = true; });
    canvas.addEventListener('click', (event) => {
      const r = rectAt(event);
      if (r) { zoomTo(r.node); showTooltip(event); }
    });
    $('reset').addEventListener('click', () => zoomTo(0));
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') { search.blur(); zoomTo(0); }
    });
    search.addEventListener('input', () => { updateSearch(); draw(); });
    typeSelect.addEventListener('change', () => {
      view.type = Number(typeSelect.value);
      if (!(cumulative(view.type)[view.zoom] > 0)) view.zoom = 0;
      updateSummary();
      updateMatchShare();
      draw();
    });
    let pending = false;
    window.addEventListener('resize', () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; draw(); });
    });
  }

  start().catch((error) => {
    view.error = String(error);
    status.className = 'error';
    status.textContent = typeof DecompressionStream === 'undefined'
      ? 'This browser cannot read the embedded profile: it needs DecompressionStream ' +
        '(Chrome/Edge 80, Firefox 113, Safari 16.4 or later).'
      : 'Cannot show the profile: ' + error;
  });
})();
