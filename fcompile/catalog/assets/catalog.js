/* fcompile catalog: the search box. The index (assets/search-index.js, written by `fcompile docs generate`) is
   loaded the first time the box is used; each entry is [label, kind, lower-case text, href, description]. */
(function () {
  "use strict";
  var root = document.body.getAttribute("data-root") || "";
  var input = document.getElementById("search");
  var list = document.getElementById("search-results");
  var LIMIT = 40;
  var loading = null;
  var active = -1;

  function loadIndex(done) {
    if (window.FCOMPILE_SEARCH) { done(); return; }
    if (!loading) {
      loading = [];
      var script = document.createElement("script");
      script.src = root + "assets/search-index.js";
      script.onload = function () { loading.forEach(function (f) { f(); }); };
      document.head.appendChild(script);
    }
    loading.push(done);
  }

  // Rank: the name itself, then names starting with the query, then names holding it, then any text holding it;
  // shorter names first within a rank, then index order. Matches go to buckets by (rank, name length), read in
  // order until LIMIT are taken: one pass over the index, no sort (a query matching every entry stays fast).
  function search(query) {
    var words = query.toLowerCase().split(/\s+/).filter(Boolean);
    if (!words.length) return [0];
    var first = words[0], buckets = [], total = 0;
    var index = window.FCOMPILE_SEARCH;
    for (var i = 0; i < index.length; i++) {
      var entry = index[i], text = entry[2], all = true;
      for (var w = 0; w < words.length; w++) { if (text.indexOf(words[w]) < 0) { all = false; break; } }
      if (!all) continue;
      var name = entry[0].toLowerCase(), bare = name.slice(name.indexOf(":") + 1);
      var rank = (name === first || bare === first) ? 0 : (name.indexOf(first) === 0 || bare.indexOf(first) === 0) ? 1
        : name.indexOf(first) >= 0 ? 2 : 3;
      var key = rank * 256 + Math.min(name.length, 255);
      (buckets[key] || (buckets[key] = [])).push(entry);
      total++;
    }
    var found = [];
    for (var k = 0; k < buckets.length && found.length < LIMIT; k++) {
      if (buckets[k]) found = found.concat(buckets[k].slice(0, LIMIT - found.length));
    }
    return found.concat(total > LIMIT ? [null] : []).concat([total]);
  }

  var KIND = {entity: "entity", source: "source", push_source: "push source", request_source: "request source",
    feature_view: "feature view", on_demand_view: "on-demand view", feature_service: "feature service",
    dataset: "dataset", feature: "feature"};

  function show() {
    var results = search(input.value);
    list.innerHTML = "";
    active = -1;
    if (!input.value.trim()) { list.hidden = true; return; }
    var total = results.pop();
    results.forEach(function (entry) {
      var li = document.createElement("li");
      if (entry === null) {
        li.className = "none";
        li.textContent = (total - LIMIT) + " more: type more of the name";
      } else {
        var a = document.createElement("a");
        a.href = root + entry[3];
        a.setAttribute("data-kind", entry[1]);
        var kind = document.createElement("span");
        kind.className = "kind kind-" + (entry[1] === "feature" ? "feature_view" : entry[1]);
        kind.textContent = KIND[entry[1]] || entry[1];
        a.appendChild(kind);
        a.appendChild(document.createTextNode(" " + entry[0]));
        if (entry[4]) {
          var desc = document.createElement("span");
          desc.className = "desc";
          desc.textContent = entry[4];
          a.appendChild(desc);
        }
        li.appendChild(a);
      }
      list.appendChild(li);
    });
    if (!total) {
      var none = document.createElement("li");
      none.className = "none";
      none.textContent = "nothing matches";
      list.appendChild(none);
    }
    list.hidden = false;
  }

  function move(step) {
    var links = list.querySelectorAll("li a");
    if (!links.length) return;
    if (active >= 0) links[active].parentNode.classList.remove("active");
    active = (active + step + links.length) % links.length;
    links[active].parentNode.classList.add("active");
    links[active].scrollIntoView({block: "nearest"});
  }

  if (input) {
    input.addEventListener("input", function () { loadIndex(show); });
    input.addEventListener("focus", function () { loadIndex(function () {}); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") { move(1); event.preventDefault(); }
      else if (event.key === "ArrowUp") { move(-1); event.preventDefault(); }
      else if (event.key === "Escape") { list.hidden = true; }
      else if (event.key === "Enter") {
        var links = list.querySelectorAll("li a");
        if (links.length) window.location.href = links[Math.max(active, 0)].href;
      }
    });
    document.addEventListener("click", function (event) {
      if (!event.target.closest || !event.target.closest(".search")) list.hidden = true;
    });
  }
  window.fcompileSearch = function (query) { return search(query); };
})();
