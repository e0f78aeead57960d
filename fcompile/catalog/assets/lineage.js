/* fcompile catalog: the lineage graph, drawn by cytoscape.js with the dagre layout (assets/vendor/).
   Data: window.FCOMPILE_LINEAGE (assets/lineage-data.js) = {nodes: [{k: kind, n: name, d: [index of each node it
   reads], f: [[feature, [[index, column], ...], how]] for views, p: [[view index, [features], alias]] for services
   and datasets}]}. A node's graph starts with its neighbours; a feature's graph is its column lineage. */
(function () {
  "use strict";
  var box = document.getElementById("lineage");
  if (!box || !window.FCOMPILE_LINEAGE || !window.cytoscape) return;
  if (window.cytoscapeDagre) window.cytoscape.use(window.cytoscapeDagre);
  var root = document.body.getAttribute("data-root") || "";
  var nodes = window.FCOMPILE_LINEAGE.nodes;
  var byId = {}, users = nodes.map(function () { return []; });
  nodes.forEach(function (node, i) {
    byId[node.k + "." + node.n] = i;
    node.d.forEach(function (d) { users[d].push(i); });
  });
  var COLORS = {entity: "#8a5cd0", source: "#2c8a5a", push_source: "#2c8a5a", request_source: "#2c8a5a",
    feature_view: "#2f5fd0", on_demand_view: "#1c8fa3", feature_service: "#c46a16", dataset: "#b23a5a"};
  var href = function (i) { return root + nodes[i].k + "/" + nodes[i].n + ".html"; };
  var params = new URLSearchParams(window.location.search);
  var feature = box.getAttribute("data-feature") || params.get("feature") || "";
  var focus = box.getAttribute("data-node") || params.get("node") || "";
  var status = box.querySelector(".graph-status");
  var listing = box.querySelector(".graph-nodes");

  var cy = window.cytoscape({
    container: box.querySelector(".graph"),
    wheelSensitivity: 0.3, minZoom: 0.1, maxZoom: 3,
    style: [
      {selector: "node", style: {"shape": "round-rectangle", "label": "data(label)", "width": "label", "height": "label",
        "padding": "7px", "text-valign": "center", "text-halign": "center", "font-size": 11, "color": "#fff",
        "background-color": "data(color)", "text-wrap": "wrap"}},
      {selector: "node.focus", style: {"border-width": 3, "border-color": "#111"}},
      {selector: "edge", style: {"width": 1.4, "line-color": "#9aa3b2", "target-arrow-color": "#9aa3b2",
        "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8}},
      {selector: "edge[label]", style: {"label": "data(label)", "font-size": 9, "color": "#384152",
        "text-background-color": "#fff", "text-background-opacity": 0.9, "text-background-padding": "2px",
        "text-wrap": "wrap", "text-max-width": "190px"}}
    ]
  });

  function layout() {
    var options = window.cytoscapeDagre ? {name: "dagre", rankDir: "LR", nodeSep: 14, rankSep: feature ? 200 : 70,
      fit: true, padding: 16} : {name: "breadthfirst", directed: true, padding: 16};
    cy.layout(options).run();
    if (cy.zoom() > 1.2) { cy.zoom(1.2); cy.center(); }  // a small graph at a readable size, not blown up
  }

  function listShown() {
    listing.innerHTML = "";
    cy.nodes().forEach(function (n) {
      var li = document.createElement("li");
      li.setAttribute("data-node", n.id());
      var a = document.createElement("a");
      a.href = n.data("href");
      a.textContent = n.data("text");
      var kind = document.createElement("span");
      kind.className = "kind kind-" + n.data("kind");
      kind.textContent = n.data("kind").replace(/_/g, " ");
      li.appendChild(kind);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(a);
      listing.appendChild(li);
    });
  }

  // -- node lineage: a node's neighbourhood, grown by clicks ------------------------------------------------
  // Past MAX_SHOWN nodes a layered drawing is unreadable (and slow to lay out): growing stops there.
  var MAX_SHOWN = 400;
  var shown = {};
  function addNeighbours(i) {
    shown[i] = true;
    nodes[i].d.forEach(function (d) { shown[d] = true; });
    users[i].forEach(function (u) { shown[u] = true; });
  }
  function grow(indexes) {
    var before = Object.assign({}, shown);
    indexes.forEach(addNeighbours);
    var count = Object.keys(shown).length;
    if (count > MAX_SHOWN) {
      shown = before;
      status.textContent = "expanding would show " + count + " nodes (at most " + MAX_SHOWN +
        "): open a node's page to start from it";
      return false;
    }
    return true;
  }
  function drawNodes(focusIndex) {
    var elements = [];
    Object.keys(shown).forEach(function (key) {
      var i = +key, node = nodes[i];
      if (cy.getElementById("n" + i).length) return;
      elements.push({group: "nodes", data: {id: "n" + i, label: node.n, text: node.n, kind: node.k,
        color: COLORS[node.k] || "#6b7280", href: href(i), index: i}, classes: i === focusIndex ? "focus" : ""});
    });
    Object.keys(shown).forEach(function (key) {
      var i = +key;
      nodes[i].d.forEach(function (d) {
        var id = "e" + d + "-" + i;
        if (shown[d] && !cy.getElementById(id).length) elements.push({group: "edges", data: {id: id, source: "n" + d, target: "n" + i}});
      });
    });
    cy.add(elements);
    layout();
    status.textContent = cy.nodes().length + " of " + nodes.length + " nodes shown";
    listShown();
  }

  // -- column lineage: one feature, the columns it reads, and who takes it --------------------------------------
  function columnGraph(viewIndex, name) {
    var elements = [], seen = {};
    function columnNode(i, column, isFeature) {
      var id = "c" + i + ":" + column;
      if (!seen[id]) {
        seen[id] = true;
        elements.push({group: "nodes", data: {id: id, label: nodes[i].n + "\n" + column, text: nodes[i].n + "." + column,
          kind: nodes[i].k, color: COLORS[nodes[i].k] || "#6b7280",
          href: href(i) + (isFeature ? "#feature-" + column : "")}});
      }
      return id;
    }
    function featureOf(i, column) {
      var list = nodes[i].f || [];
      for (var j = 0; j < list.length; j++) if (list[j][0] === column) return list[j];
      return null;
    }
    function edge(from, to, label) {
      var id = from + "->" + to;
      if (seen[id]) return;
      seen[id] = true;
      elements.push({group: "edges", data: label ? {id: id, source: from, target: to, label: label} : {id: id, source: from, target: to}});
    }
    function upstream(i, column) {
      var me = columnNode(i, column, true), entry = featureOf(i, column);
      if (!entry) return me;
      entry[1].forEach(function (read) {
        if (read[0] < 0) return;
        var from = featureOf(read[0], read[1]) ? upstream(read[0], read[1]) : columnNode(read[0], read[1], false);
        edge(from, me, entry[2]);
      });
      return me;
    }
    function downstream(i, column, me) {
      nodes.forEach(function (node, j) {
        (node.p || []).forEach(function (p) {
          if (p[0] !== i || p[1].indexOf(column) < 0) return;
          var id = columnNode(j, (p[2] || nodes[i].n) + ":" + column, false);
          edge(me, id, p[2] ? "as " + p[2] + ":" + column : "");
        });
        (node.f || []).forEach(function (f) {
          if (!f[1].some(function (read) { return read[0] === i && read[1] === column; })) return;
          var id = columnNode(j, f[0], true);
          edge(me, id, f[2]);
          downstream(j, f[0], id);
        });
      });
    }
    var me = upstream(viewIndex, name);
    downstream(viewIndex, name, me);
    cy.add(elements);
    cy.getElementById(me).addClass("focus");
    layout();
    status.textContent = "column lineage of " + nodes[viewIndex].n + ":" + name;
    listShown();
  }

  box.addEventListener("click", function (event) {
    var action = event.target.getAttribute && event.target.getAttribute("data-action");
    if (action === "fit") cy.fit(undefined, 16);
    if (action === "expand" && !feature && grow(cy.nodes().map(function (n) { return n.data("index"); }))) {
      drawNodes(byId[focus]);
    }
  });
  cy.on("dbltap", "node", function (event) { window.location.href = event.target.data("href"); });

  var title = document.getElementById("lineage-title");
  if (feature) {
    var colon = feature.lastIndexOf(":"), viewIndex = byId[feature.slice(0, colon)];
    box.querySelector("[data-action=expand]").hidden = true;
    if (viewIndex === undefined) { status.textContent = "no such feature: " + feature; return; }
    if (title) title.textContent = nodes[viewIndex].n + ":" + feature.slice(colon + 1);
    columnGraph(viewIndex, feature.slice(colon + 1));
    cy.on("tap", "node", function (event) { window.location.href = event.target.data("href"); });
  } else {
    var start = byId[focus];
    if (start === undefined) {  // no node named: everything when small, else the most used view's neighbourhood
      if (nodes.length <= MAX_SHOWN / 2) nodes.forEach(function (_, i) { shown[i] = true; });
      else {
        start = 0;
        nodes.forEach(function (node, i) { if (node.k === "feature_view" && users[i].length > users[start].length) start = i; });
        addNeighbours(start);
      }
    } else addNeighbours(start);
    if (title && start !== undefined) title.textContent = nodes[start].n;
    drawNodes(start);
    cy.on("tap", "node", function (event) { if (grow([event.target.data("index")])) drawNodes(start); });
  }
  window.fcompileGraph = cy;
})();
