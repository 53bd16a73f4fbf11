// The intake form's rules, as its Questionnaire carries them (enableWhen, the goals' maxOccurs).
// Progressive enhancement: without this file every question shows, and the server drops an
// answer whose condition does not hold and refuses a fourth goal.
(function () {
  'use strict';
  var form = document.getElementById('intake');
  if (!form) return;

  function controls(box) {
    return box.querySelectorAll('input, select, textarea');
  }

  // A question shown only on a condition (data-shown-when = the field it depends on,
  // data-shown-value = the answer that shows it): the planned review date, the words for
  // "another way". Hidden, its controls are disabled, so they
  // are neither sent nor checked; shown, a date the condition asks for is required.
  function follow(box) {
    var source = form.elements.namedItem(box.dataset.shownWhen);
    if (!source) return;
    function update() {
      var shown = source.value === box.dataset.shownValue;
      box.hidden = !shown;
      controls(box).forEach(function (el) {
        el.disabled = !shown;
        if (el.type === 'date') el.required = shown;
      });
    }
    source.addEventListener('change', update);
    update();
  }
  form.querySelectorAll('[data-shown-when]').forEach(follow);

  // The goals: the rows holding nothing yet wait behind "Add another goal"; once the last row
  // is out, the button goes and a line says that is the most goals an intake holds.
  form.querySelectorAll('fieldset.goals').forEach(function (group) {
    var rows = Array.prototype.slice.call(group.querySelectorAll('fieldset.goal'));
    var add = group.querySelector('.add-goal');
    var full = group.querySelector('[data-goals-full]');
    function setShown(row, shown) {
      row.hidden = !shown;
      controls(row).forEach(function (el) { el.disabled = !shown; });
    }
    for (var i = rows.length - 1; i > 0 && rows[i].dataset.goalState === 'empty'; i--) {
      setShown(rows[i], false);
    }
    function update() {
      var more = rows.some(function (row) { return row.hidden; });
      add.hidden = !more;
      full.hidden = more;
    }
    add.addEventListener('click', function () {
      var next = rows.filter(function (row) { return row.hidden; })[0];
      if (!next) return;
      setShown(next, true);
      update();
      var first = controls(next)[0];
      if (first) first.focus();
    });
    update();
  });
})();
