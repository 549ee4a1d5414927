"""Pick one answer: a row of large buttons that wraps on a phone, one per option.

A tiny browser component: it draws the options as buttons (their text set as text, never as
HTML: an option may quote the reader's prompt) and reports the one clicked; Python checks
the answer and marks the buttons right and wrong.
"""

from __future__ import annotations

from typing import ClassVar

import param
from panel.custom import JSComponent

STYLE = """
.choices { display: flex; flex-wrap: wrap; gap: 6px; }
.choice { min-width: 44px; min-height: 44px; padding: 4px 12px; font: inherit;
  font-size: 1rem; border: 1px solid #adb5bd; border-radius: 6px; background: #fff;
  color: #1d2433; cursor: pointer; white-space: pre; }
.choice:hover { border-color: #1c7ed6; }
.choice.picked { outline: 3px solid #1c7ed6; }
.choice.right { background: #d3f9d8; border-color: #2f9e44; }
.choice.wrong { background: #ffe3e3; border-color: #e03131; }
"""


class Choice(JSComponent):
    """`options` as buttons; `value` is the index of the one clicked (-1: none yet)."""

    options = param.List(default=[], item_type=str, doc="The answers, as shown.")
    names = param.List(default=[], item_type=str,
                       doc="Each answer's accessible name, if it differs from its text.")
    marks = param.List(default=[], item_type=str,
                       doc="Per answer: 'right', 'wrong' or '' once checked.")
    value = param.Integer(default=-1, doc="The answer picked (-1: none).")

    _stylesheets: ClassVar[list[str]] = [STYLE]
    _esm = """
    export function render({ model }) {
      const box = document.createElement('div')
      box.className = 'choices'
      box.setAttribute('role', 'group')
      const draw = () => {
        box.replaceChildren(...model.options.map((text, i) => {
          const button = document.createElement('button')
          button.type = 'button'
          button.textContent = text
          button.className = `choice ${model.marks[i] || ''}${i === model.value ? ' picked' : ''}`
          button.setAttribute('aria-pressed', String(i === model.value))
          if (model.names[i]) button.setAttribute('aria-label', model.names[i])
          button.addEventListener('click', () => { model.value = i })
          return button
        }))
      }
      draw()
      model.on(['options', 'names', 'marks', 'value'], draw)
      return box
    }
    """
