// The workflow page: draws the flow diagram (vendored ECharts, graph series) from the layout the
// server computed, and makes the step editor livelier: steps can be added, removed and moved,
// the fields follow the step's kind, and the draft is checked on the server as the admin types
// (issues at their step, diagram redrawn). Without JavaScript the form still works: 检查 and
// 保存 post it and the server answers with the same issues.
(function () {
  'use strict';

  var BORDER = { task: '#1d4ed8', fork: '#7c3aed', join: '#7c3aed', end_approved: '#067647', end_refused: '#b42318' };
  var LINK = { approve: '#1d4ed8', return: '#b54708', refuse: '#b42318', branch: '#7c3aed', next: '#7c3aed', refused_next: '#b42318' };
  var chart = null;

  function draw(graph) {
    var el = document.getElementById('wf-diagram');
    if (!el || !window.echarts || !graph) return;
    if (!chart) {
      chart = window.echarts.init(el, null, { renderer: 'canvas' });
      window.addEventListener('resize', function () { chart.resize(); });
    }
    var nodes = graph.nodes.map(function (n) {
      var end = n.kind.indexOf('end') === 0;
      var task = n.kind === 'task';
      return {
        // ECharts links name their nodes by name: the step key is unique, the label shows the name.
        name: n.id,
        x: n.x,
        y: n.y,
        symbol: task ? 'roundRect' : end ? 'circle' : 'diamond',
        symbolSize: task ? [128, 46] : end ? 56 : 46,
        itemStyle: {
          color: n.start ? '#eef4ff' : '#ffffff',
          borderColor: n.issue ? '#b42318' : BORDER[n.kind] || '#52606d',
          borderWidth: n.issue ? 3 : 2,
          borderType: n.issue ? 'dashed' : 'solid'
        },
        label: { show: true, color: '#1f2933', fontSize: 12, formatter: n.name || n.id },
        tooltip: { formatter: (n.name || n.id) + '（' + n.id + '）' + (n.detail ? '<br>' + n.detail : '') }
      };
    });
    var links = graph.links.map(function (l) {
      var back = l.kind === 'return';
      return {
        source: l.source,
        target: l.target,
        label: { show: true, formatter: l.label, fontSize: 11, color: LINK[l.kind] || '#52606d' },
        lineStyle: { color: LINK[l.kind] || '#52606d', type: back ? 'dashed' : 'solid', curveness: back ? 0.35 : l.kind === 'refuse' || l.kind === 'refused_next' ? 0.18 : 0, width: 1.6 }
      };
    });
    chart.setOption({
      animation: false,
      tooltip: { confine: true },
      series: [{
        type: 'graph',
        layout: 'none',
        roam: true,
        edgeSymbol: ['none', 'arrow'],
        edgeSymbolSize: 9,
        data: nodes,
        links: links,
        emphasis: { focus: 'adjacency' }
      }]
    }, true);
    el.setAttribute('data-drawn', String(nodes.length));
  }

  var data = document.getElementById('wf-graph');
  if (data) {
    try { draw(JSON.parse(data.textContent)); } catch (e) { /* the steps table says the same */ }
  }

  var form = document.getElementById('wf-form');
  if (!form) return;
  var list = document.getElementById('wf-steps');
  var summary = document.getElementById('wf-summary');

  function steps() { return Array.prototype.slice.call(list.querySelectorAll('.wf-step')); }

  function renumber() {
    steps().forEach(function (li, n) {
      var no = li.querySelector('.wf-step-no');
      if (no) no.textContent = String(n + 1);
    });
  }

  function nextIndex() {
    var max = -1;
    form.querySelectorAll('[name^="key_"]').forEach(function (input) {
      var i = parseInt(input.name.slice(4), 10);
      if (i > max) max = i;
    });
    return max + 1;
  }

  function wire(li) {
    var tools = li.querySelector('.wf-step-tools');
    if (tools) tools.hidden = false;
    var kind = li.querySelector('.wf-kind');
    if (kind) kind.addEventListener('change', function () { li.setAttribute('data-kind', kind.value); });
    li.querySelectorAll('[data-move]').forEach(function (b) {
      b.addEventListener('click', function () {
        if (b.getAttribute('data-move') === 'up' && li.previousElementSibling) list.insertBefore(li, li.previousElementSibling);
        else if (b.getAttribute('data-move') === 'down' && li.nextElementSibling) list.insertBefore(li.nextElementSibling, li);
        renumber();
        b.focus();
        schedule();
      });
    });
    var remove = li.querySelector('[data-remove]');
    if (remove) remove.addEventListener('click', function () {
      var next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      renumber();
      if (next) { var f = next.querySelector('input'); if (f) f.focus(); }
      schedule();
    });
  }

  steps().forEach(wire);

  var add = document.getElementById('wf-add');
  if (add) {
    add.hidden = false;
    add.addEventListener('click', function () {
      var last = steps().pop();
      if (!last) return;
      var i = nextIndex();
      var li = last.cloneNode(true);
      li.id = 'step-' + i;
      li.setAttribute('data-kind', 'task');
      li.classList.remove('has-issue');
      li.querySelectorAll('input, select').forEach(function (f) {
        f.name = f.name.replace(/_\d+$/, '_' + i);
        if (f.tagName === 'SELECT') {
          f.selectedIndex = 0;
          if (f.classList.contains('wf-kind')) f.value = 'task';
          if (f.name.indexOf('role_') === 0) f.value = 'reviewer';
        } else {
          f.value = '';
        }
      });
      var legend = li.querySelector('legend');
      if (legend) legend.innerHTML = legend.innerHTML.replace(/ · <span class="mono">.*<\/span>$/, '');
      var issues = li.querySelector('.wf-step-issues');
      if (issues) { issues.innerHTML = ''; issues.hidden = true; }
      list.appendChild(li);
      wire(li);
      renumber();
      li.querySelector('input').focus();
    });
  }

  function show(result) {
    steps().forEach(function (li) {
      var ul = li.querySelector('.wf-step-issues');
      ul.innerHTML = '';
      ul.hidden = true;
      li.classList.remove('has-issue');
    });
    var general = [];
    result.issues.forEach(function (issue) {
      var target = null;
      if (issue.step) {
        steps().forEach(function (li) {
          var key = li.querySelector('[name^="key_"]');
          if (key && key.value.trim() === issue.step) target = li;
        });
      }
      if (target) {
        var ul = target.querySelector('.wf-step-issues');
        var item = document.createElement('li');
        item.textContent = issue.message;
        ul.appendChild(item);
        ul.hidden = false;
        target.classList.add('has-issue');
      } else {
        general.push(issue.message);
      }
    });
    summary.innerHTML = '';
    var box = document.createElement('div');
    if (result.valid) {
      box.className = 'alert ok';
      box.textContent = '检查通过，可以保存。';
    } else {
      box.className = 'alert error';
      box.textContent = '流程定义有 ' + result.issues.length + ' 处问题，请在对应步骤处修改。';
      if (general.length) {
        var ul = document.createElement('ul');
        general.forEach(function (m) { var li = document.createElement('li'); li.textContent = m; ul.appendChild(li); });
        box.appendChild(ul);
      }
    }
    summary.appendChild(box);
    var keys = document.getElementById('wf-keys');
    if (keys) {
      keys.innerHTML = '';
      form.querySelectorAll('[name^="key_"]').forEach(function (k) {
        if (k.value.trim()) { var o = document.createElement('option'); o.value = k.value.trim(); keys.appendChild(o); }
      });
    }
    draw(result.graph);
  }

  var timer = null;
  var seq = 0;
  function check() {
    var mine = ++seq;
    var body = new URLSearchParams(new FormData(form));
    fetch(form.getAttribute('data-check'), {
      method: 'POST',
      body: body,
      credentials: 'same-origin',
      headers: { 'Accept': 'application/json' }
    }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (result) {
      if (result && mine === seq) show(result);
    }).catch(function () { /* offline: the buttons still post the form */ });
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(check, 500);
  }
  form.addEventListener('input', schedule);
  form.addEventListener('change', schedule);
})();
