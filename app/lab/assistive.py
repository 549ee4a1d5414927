"""What the browser tells the lab, and adds to the page, for readers with assistive needs.

* ReaderPreferences: the reader's "reduce motion" setting (the CSS media query
  `prefers-reduced-motion`), which the lab's animation clock follows.
* ControlNames: a name for each control that BokehJS draws without one, so that a screen
  reader can say what it is: a slider's handle takes its title ("Block"), a number field's
  spin buttons say "increase"/"decrease" and leave the Tab order (the arrow keys in the
  field do the same), and a button of a group (head switches, choices) says whether it is
  pressed, as its filling shows. BokehJS 3.9 gives them no name (its sliders come from noUiSlider
  without `handleAttributes`); each Bokeh control lives in its own shadow root, so the
  component looks into every open shadow root, now and whenever the page changes.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent

from app.i18n import N_

INCREASE = N_("increase")
DECREASE = N_("decrease")
A_SLIDER = N_("slider")  # a handle whose slider has no title
REDUCED_MOTION = N_("Your system asks for less motion, so Play moves one step every {seconds:g} "
                  "seconds. Step by hand with ‹ and › or the arrow keys.")


class ReaderPreferences(JSComponent):
    """The reader's `reduced_motion` setting, kept up to date as they change it."""

    reduced_motion = param.Boolean(default=False, doc=(
        "Whether the reader's system asks for less motion (prefers-reduced-motion)."))

    _esm = """
    export function render({ model }) {
      const query = window.matchMedia('(prefers-reduced-motion: reduce)')
      const follow = () => { model.reduced_motion = query.matches }
      follow()
      query.addEventListener('change', follow)
      model.on('remove', () => query.removeEventListener('change', follow))
      return document.createElement('span')
    }
    """


class ControlNames(JSComponent):
    """Names BokehJS's unnamed controls (see the module's docstring)."""

    increase = param.String(default=INCREASE, doc="The name of a number field's up button.")
    decrease = param.String(default=DECREASE, doc="The name of a number field's down button.")
    slider = param.String(default=A_SLIDER, doc="The name of an untitled slider's handle.")

    _esm = """
    const SOON_MS = 150  // at most one pass over the page per this many milliseconds

    function name(root, model) {
      for (const handle of root.querySelectorAll('.noUi-handle:not([aria-label])')) {
        const title = root.querySelector('.bk-slider-title')
        const text = title ? title.textContent.split(':')[0].trim() : ''
        handle.setAttribute('aria-label', text || model.slider)
      }
      for (const [selector, label] of [['.bk-spin-btn-up', model.increase],
                                       ['.bk-spin-btn-down', model.decrease]]) {
        for (const button of root.querySelectorAll(`${selector}:not([aria-label])`)) {
          button.setAttribute('aria-label', label)
          button.tabIndex = -1
        }
      }
      for (const button of root.querySelectorAll('.bk-btn-group > .bk-btn')) {
        const pressed = String(button.classList.contains('bk-active'))
        if (button.getAttribute('aria-pressed') !== pressed) {
          button.setAttribute('aria-pressed', pressed)
        }
      }
    }

    export function render({ model }) {
      const watched = new WeakSet()
      let pending = null
      const observer = new MutationObserver(() => {
        if (pending === null) pending = setTimeout(pass, SOON_MS)
      })
      const visit = (root) => {
        if (!watched.has(root)) {
          watched.add(root)
          observer.observe(root, { childList: true, subtree: true, attributes: true,
                                   attributeFilter: ['class'] })
        }
        name(root, model)
        for (const el of root.querySelectorAll('*')) if (el.shadowRoot) visit(el.shadowRoot)
      }
      function pass() { pending = null; visit(document) }
      pass()
      model.on('remove', () => { observer.disconnect(); clearTimeout(pending) })
      return document.createElement('span')
    }
    """


class LiveRegion(JSComponent):
    """A polite live region: a screen reader reads `message` out when it changes, once the
    reader is idle. Unseen on the page; one element that stays, whose text changes (a region
    put on the page with its text already in it is often not read)."""

    message = param.String(default="", doc="What to say next.")

    _esm = """
    export function render({ model }) {
      const region = document.createElement('div')
      region.setAttribute('role', 'status')
      region.setAttribute('aria-live', 'polite')
      region.style.cssText = 'position:absolute;width:1px;height:1px;overflow:hidden;' +
        'clip-path:inset(50%);white-space:nowrap;'
      region.textContent = model.message
      model.on('message', () => { region.textContent = model.message })
      return region
    }
    """
