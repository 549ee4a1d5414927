"""A value kept in the browser's localStorage, synced with Python both ways.

The browser side only reads and writes the text; what the text means, and whether it
is valid, is decided in Python. Storage that is unavailable (a sandboxed frame, a private
window) or full sets `error`, and the lab goes on without it.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent


class BrowserStorage(JSComponent):
    """localStorage[key] as `value` ("" when absent); `loaded` turns True once the browser
    has sent what it had."""

    key = param.String(default="napkin-gpt", doc="The localStorage key.")
    value = param.String(default="", doc="The stored text.")
    loaded = param.Boolean(default=False, doc="Whether the browser has reported the value.")
    error = param.String(default="", doc="Why storage failed, if it did.")
    keep_old = param.Boolean(default=True, doc=(
        "On a failed write, keep the value stored before (False: remove it, for a value "
        "that is wrong once a newer one exists)."))

    _esm = """
    export function render({ model }) {
      const fail = (e) => {
        model.error = e && e.name === 'QuotaExceededError' ? 'full' : `unavailable (${e})`
      }
      try {
        model.value = window.localStorage.getItem(model.key) ?? ''
      } catch (e) {
        fail(e)
      }
      model.loaded = true
      model.on('value', () => {
        try {
          if (model.value) window.localStorage.setItem(model.key, model.value)
          else window.localStorage.removeItem(model.key)
          if (model.error) model.error = ''
        } catch (e) {
          fail(e)
          if (!model.keep_old) {
            try { window.localStorage.removeItem(model.key) } catch (_) { /* unavailable */ }
          }
        }
      })
      return document.createElement('span')
    }
    """
