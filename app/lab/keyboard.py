"""Keyboard shortcuts: the space bar plays and pauses, the arrow keys step the timeline.

A tiny browser component reports key presses; the lab decides what they do. Keys typed
into a text field or the code editor, or pressed on a focused button, list, slider or any
other control, keep their usual meaning there.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent


class Keyboard(JSComponent):
    """Counts presses of the lab's shortcut keys; `key` is the latest one."""

    key = param.String(default="", doc="The last shortcut key pressed.")
    presses = param.Integer(default=0, doc="How many shortcut keys were pressed.")

    _esm = """
    const KEYS = [' ', 'ArrowLeft', 'ArrowRight']
    const OWN_KEYS = ['INPUT', 'TEXTAREA', 'SELECT', 'BUTTON', 'A', 'SUMMARY']
    const OWN_ROLES = ['slider', 'spinbutton', 'textbox', 'searchbox', 'combobox', 'listbox',
                       'option', 'radio', 'checkbox', 'switch', 'tab', 'menuitem', 'button']
    const keepsKeys = (el) => el instanceof Element && (OWN_KEYS.includes(el.tagName)
      || el.isContentEditable || OWN_ROLES.includes(el.getAttribute('role'))
      || el.closest('.ace_editor') !== null)

    export function render({ model }) {
      const onKey = (event) => {
        const target = event.composedPath()[0]
        if (!KEYS.includes(event.key) || event.altKey || event.ctrlKey || event.metaKey) return
        if (event.defaultPrevented || keepsKeys(target)) return
        event.preventDefault()
        model.key = event.key
        model.presses = model.presses + 1
      }
      document.addEventListener('keydown', onKey)
      model.on('remove', () => document.removeEventListener('keydown', onKey))
      return document.createElement('span')
    }
    """
